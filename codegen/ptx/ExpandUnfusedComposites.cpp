//===- ExpandUnfusedComposites.cpp - kiln-expand-unfused-composites -------===//
//
// The ptx pipeline keeps the composites of directComposites() whole
// (kiln-decompose runs with them excluded); this pass expands the ones their
// direct kernels refuse (isDirectAttention, isDirectMoeRoute,
// isDirectMoePlan), then the
// composites that expansion creates.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnOps.h"
#include "passes/DecomposePatterns.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

namespace kiln::codegen::ptx {
#define GEN_PASS_DEF_EXPANDUNFUSEDCOMPOSITES
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

struct ExpandUnfusedCompositesPass
    : impl::ExpandUnfusedCompositesBase<ExpandUnfusedCompositesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> unfused;
    module.walk([&](Operation *op) {
      if ((llvm::isa<ir::AttentionOp>(op) && !isDirectAttention(op)) ||
          (llvm::isa<ir::MoeRouteOp>(op) && !isDirectMoeRoute(op)) ||
          (llvm::isa<ir::MoePlanOp>(op) && !isDirectMoePlan(op)))
        unfused.push_back(op);
    });
    if (unfused.empty())
      return;
    RewritePatternSet patterns(&getContext());
    auto only = [](StringRef name) {
      return [name](StringRef op) { return op == name; };
    };
    passes::populateAttentionDecomposition(patterns, only("attention"));
    passes::populateMoeDecompositions(patterns, [](StringRef op) {
      return op == "moe_plan" || op == "moe_route";
    });
    // Only the refused ops: the driver would otherwise also rewrite their
    // neighbours (a moe_route feeding an expanded plan) that the kernels take.
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyOpPatternsAndFold(unfused, std::move(patterns), config)))
      return signalPassFailure();
    // The expansions may use composites (softmax): expand those too, then
    // clean up as the graph pipeline does after kiln-decompose.
    std::vector<std::string> others;
    for (StringRef name : passes::compositeOpNames())
      if (!llvm::is_contained(directComposites(), name))
        others.push_back(name.str());
    passes::DecomposeOptions rest;
    rest.onlyOps = others;
    OpPassManager pm(ModuleOp::getOperationName());
    pm.addPass(passes::createDecompose(rest));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    if (failed(runPipeline(pm, module)))
      signalPassFailure();
  }
};

} // namespace
} // namespace kiln::codegen::ptx
