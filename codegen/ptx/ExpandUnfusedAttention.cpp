//===- ExpandUnfusedAttention.cpp - kiln-expand-unfused-attention ---------===//
//
// The ptx pipeline keeps kiln.attention whole (kiln-decompose runs with
// attention excluded); this pass expands the ones the fused kernel refuses
// (isDirectAttention), then the composites their expansion creates.
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
#define GEN_PASS_DEF_EXPANDUNFUSEDATTENTION
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

struct ExpandUnfusedAttentionPass
    : impl::ExpandUnfusedAttentionBase<ExpandUnfusedAttentionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> unfused;
    module.walk([&](ir::AttentionOp op) {
      if (!isDirectAttention(op))
        unfused.push_back(op);
    });
    if (unfused.empty())
      return;
    RewritePatternSet patterns(&getContext());
    passes::populateAttentionDecomposition(patterns,
                                           [](StringRef) { return true; });
    if (failed(applyOpPatternsAndFold(unfused, std::move(patterns))))
      return signalPassFailure();
    // The expansion may use composites (softmax): expand those too, then
    // clean up as the graph pipeline does after kiln-decompose.
    std::vector<std::string> others;
    for (StringRef name : passes::compositeOpNames())
      if (!llvm::is_contained(directComposites(), name))
        others.push_back(name.str());
    passes::DecomposeOptions only;
    only.onlyOps = others;
    OpPassManager pm(ModuleOp::getOperationName());
    pm.addPass(passes::createDecompose(only));
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    if (failed(runPipeline(pm, module)))
      signalPassFailure();
  }
};

} // namespace
} // namespace kiln::codegen::ptx
