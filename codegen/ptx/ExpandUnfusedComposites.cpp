//===- ExpandUnfusedComposites.cpp - kiln-expand-unfused-composites -------===//
//
// The ptx pipeline keeps the composites of directComposites() whole
// (kiln-decompose runs with them excluded); this pass expands the ones their
// direct kernels refuse (isDirectAttention, isDirectMoeRoute,
// isDirectMoePlan, isDirectQuantize, moe_gate_up outside the wgmma gate/up
// kernel (isTensorCoreGateUp), and scaled_matmul outside the fp8 wgmma
// kernel's recipe), then the composites that expansion creates. Before that,
// scaled_matmuls of the recipe are laid out K-major for the kernel
// (ScaledMatmulAsKMajor). The pipeline also keeps kiln.dequantize whole: the
// int4 weights of tensor-core GEMMs stay so (isTensorCoreInt4Weight, for
// mma_int4_matmul), every other dequantize is expanded here.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/MatmulTiling.h"
#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
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

/// A kiln.scaled_matmul of the fp8 kernel's recipe with a stored [K, M]
/// (transpose_a) or [K, N] (no transpose_b) operand, in the K-major form the
/// kernel reads: float8 wgmma takes no transposed operands, so that operand
/// and its scale are transposed (a copy, exact) and so are their blocks. The
/// input gradient's weight and the weight gradient's operands take this path.
struct ScaledMatmulAsKMajor : OpRewritePattern<ir::ScaledMatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ir::ScaledMatmulOp op,
                                PatternRewriter &rewriter) const override {
    if ((!op.getTransposeA() && op.getTransposeB()) ||
        !isTensorCoreScaledRecipe(op))
      return failure();
    ir::PrimitiveBuilder pb(rewriter, op.getLoc());
    auto swap = [&](Value v) {
      return pb.op<ir::TransposeOp>(
          {v}, {rewriter.getNamedAttr("perm",
                                      rewriter.getDenseI64ArrayAttr({1, 0}))});
    };
    auto reversed = [](ArrayRef<int64_t> block) {
      return SmallVector<int64_t>{block[1], block[0]};
    };
    Value a = op.getA(), aScale = op.getAScale();
    Value b = op.getB(), bScale = op.getBScale();
    SmallVector<int64_t> aBlock(op.getABlock()), bBlock(op.getBBlock());
    if (op.getTransposeA()) {
      a = swap(a);
      aScale = swap(aScale);
      aBlock = reversed(aBlock);
    }
    if (!op.getTransposeB()) {
      b = swap(b);
      bScale = swap(bScale);
      bBlock = reversed(bBlock);
    }
    rewriter.replaceOpWithNewOp<ir::ScaledMatmulOp>(
        op, op.getType(), a, aScale, b, bScale,
        rewriter.getDenseI64ArrayAttr(aBlock),
        rewriter.getDenseI64ArrayAttr(bBlock), rewriter.getBoolAttr(false),
        rewriter.getBoolAttr(true), op.getDtypeAttr());
    return success();
  }
};

struct ExpandUnfusedCompositesPass
    : impl::ExpandUnfusedCompositesBase<ExpandUnfusedCompositesPass> {
  using ExpandUnfusedCompositesBase::ExpandUnfusedCompositesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> unfused;
    SmallVector<Operation *> transposed;
    if (wgmma)
      module.walk([&](ir::ScaledMatmulOp op) {
        if (!isTensorCoreScaledMatmul(op) && isTensorCoreScaledRecipe(op))
          transposed.push_back(op);
      });
    if (!transposed.empty()) {
      RewritePatternSet layouts(&getContext());
      layouts.add<ScaledMatmulAsKMajor>(&getContext());
      GreedyRewriteConfig config;
      config.strictMode = GreedyRewriteStrictness::ExistingOps;
      if (failed(
              applyOpPatternsAndFold(transposed, std::move(layouts), config)))
        return signalPassFailure();
    }
    // moe_gate_up outside the wgmma kernel first: its expansion's grouped
    // matmuls may read int4 weights, whose dequantizes the walk below keeps.
    // A region that already names the kernel (hand-written, kiln-opt)
    // keeps its op whatever gate-up-kernel says.
    SmallVector<Operation *> gateUps;
    module.walk([&](ir::MoeGateUpOp op) {
      auto dispatch = llvm::dyn_cast_or_null<ir::DispatchOp>(op->getParentOp());
      bool chosen =
          dispatch && dispatch.getKernel() == StringRef("wgmma_moe_gate_up");
      if (!(wgmma && (gateUpKernel || chosen) && isTensorCoreGateUp(op)))
        gateUps.push_back(op);
    });
    if (!gateUps.empty()) {
      RewritePatternSet patterns(&getContext());
      passes::populateMoeDecompositions(
          patterns, [](StringRef op) { return op == "moe_gate_up"; });
      GreedyRewriteConfig config;
      config.strictMode = GreedyRewriteStrictness::ExistingOps;
      if (failed(applyOpPatternsAndFold(gateUps, std::move(patterns), config)))
        return signalPassFailure();
    }
    module.walk([&](Operation *op) {
      if ((llvm::isa<ir::AttentionOp>(op) && !isDirectAttention(op)) ||
          (llvm::isa<ir::MoeRouteOp>(op) && !isDirectMoeRoute(op)) ||
          (llvm::isa<ir::MoePlanOp>(op) && !isDirectMoePlan(op)) ||
          (llvm::isa<ir::QuantizeOp>(op) && !isDirectQuantize(op)) ||
          (llvm::isa<ir::ScaledMatmulOp>(op) &&
           !(wgmma && isTensorCoreScaledMatmul(op))))
        unfused.push_back(op);
      // The pipeline keeps dequantizes whole for the int4 GEMM
      // (mma_int4_matmul); it takes only int4 weights of tensor-core GEMMs.
      if (auto dequantize = llvm::dyn_cast<ir::DequantizeOp>(op);
          dequantize && !isTensorCoreInt4Weight(dequantize))
        unfused.push_back(op);
    });
    if (unfused.empty() && gateUps.empty())
      return;
    RewritePatternSet patterns(&getContext());
    auto only = [](StringRef name) {
      return [name](StringRef op) { return op == name; };
    };
    passes::populateAttentionDecomposition(patterns, only("attention"));
    passes::populateMoeDecompositions(patterns, [](StringRef op) {
      return op == "moe_plan" || op == "moe_route";
    });
    passes::populateQuantDecompositions(patterns, [](StringRef op) {
      return op == "quantize" || op == "scaled_matmul" || op == "dequantize";
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
      if (!llvm::is_contained(directComposites(), name) && name != "dequantize")
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
