//===- SelectKernels.cpp - kiln-select-kernels ----------------------------===//
//
// Kernel choice as IR: each kiln.dispatch records the provider that lowers it,
// so --dump-ir shows the choice and lit tests pin it (see KernelTable.h), and
// the tile decision that changes the launch's shape: a split of K over a
// cluster (kiln.split_k, WgmmaMatmul.h). A wgmma_matmul whose A a region of
// remaps alone writes (the absorbed MLA's head-major operands) takes those
// remaps into its own region when they are a strided view its tensor map
// reads in place (absorbViewOfA): the producer's launch is gone. A SwiGLU
// MLP's gated product takes its two projections' GEMMs into its region
// (absorbGatedMatmuls) for the kernel that multiplies one A by both weights.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/KernelTable.h"
#include "codegen/ptx/MatmulTiling.h"
#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnOps.h"
#include "passes/GatedMatmuls.h"

namespace kiln::codegen::ptx {
#define GEN_PASS_DEF_SELECTKERNELS
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

bool isRemap(Operation *op) {
  return llvm::isa<ir::ReshapeOp, ir::TransposeOp, ir::SliceOp>(op);
}

/// A's producer: a region of remaps only, read through reshapes outside
/// regions, each value read once. When the whole chain is a strided view of
/// the producer's input that viewOperandOfA takes, the remaps move into the
/// matmul's region (its tensor map reads A in place) and the producer
/// region is erased.
void absorbViewOfA(ir::DispatchOp dispatch) {
  auto matmul = llvm::dyn_cast<ir::MatmulOp>(dispatch.getRoot());
  if (!matmul || dispatch.getBody().front().getOperations().size() != 2)
    return;
  SmallVector<Operation *> outside; // the reshapes, producer side first
  Value v = matmul.getA();
  while (auto reshape = v.getDefiningOp<ir::ReshapeOp>()) {
    if (!v.hasOneUse() || reshape->getBlock() != dispatch->getBlock())
      return;
    outside.insert(outside.begin(), reshape);
    v = reshape.getX();
  }
  auto producer = v.getDefiningOp<ir::DispatchOp>();
  if (!producer || producer->getNumResults() != 1 || !v.hasOneUse() ||
      producer->getBlock() != dispatch->getBlock())
    return;
  SmallVector<Operation *> remaps;
  for (Operation &op : producer.getBody().front().without_terminator()) {
    if (!isRemap(&op) || !op.getResult(0).hasOneUse())
      return;
    Value in = op.getOperand(0);
    if (remaps.empty() ? in.getParentRegion() == &producer.getBody()
                       : in != remaps.back()->getResult(0))
      return;
    remaps.push_back(&op);
  }
  Value base = remaps.empty() ? Value() : remaps.front()->getOperand(0);
  // A base that is itself a single-use remap would lengthen the chain
  // stridedViewOf sees past the region.
  if (!base || (base.getDefiningOp() && isRemap(base.getDefiningOp()) &&
                base.hasOneUse()))
    return;
  SmallVector<Operation *> chain(remaps);
  chain.append(outside);
  std::optional<passes::StridedView> view = passes::stridedView(base, chain);
  if (!view || !viewOperandOfA(geometryOf(matmul), *view))
    return;
  for (Operation *op : chain)
    op->moveBefore(matmul);
  producer.getResult(0).replaceAllUsesWith(remaps.back()->getResult(0));
  producer.erase();
}

/// The region that writes `v` alone, took `kernel`, sits in `consumer`'s
/// block and is read only by one op; no split or tile width decided yet.
ir::DispatchOp soleOperandRegion(Value v, ir::DispatchOp consumer,
                                 StringRef kernel) {
  auto producer = v.getDefiningOp<ir::DispatchOp>();
  if (!producer || producer->getNumResults() != 1 || !v.hasOneUse() ||
      producer.getKernel() != kernel ||
      producer->getBlock() != consumer->getBlock() ||
      producer->hasAttr(kSplitKAttrName) || producer->hasAttr(kTileNAttrName))
    return ir::DispatchOp();
  return producer;
}

/// Moves `producer`'s ops into `consumer`'s region before `user` (the op
/// that read the producer's result, which now reads its root's), erases
/// `producer`, and gives `consumer` the provider `kernel`, which must take
/// the region so formed.
LogicalResult absorbOperandRegion(ir::DispatchOp consumer, Operation *user,
                                  ir::DispatchOp producer, StringRef kernel,
                                  const KernelTarget &target) {
  Value result = producer.getRoot()->getResult(0);
  for (Operation &op : llvm::make_early_inc_range(
           producer.getBody().front().without_terminator()))
    op.moveBefore(user);
  producer.getResult(0).replaceAllUsesWith(result);
  producer.erase();
  const KernelProvider *p = findKernelProvider(kernel);
  if (!p->matches(consumer.getRoot(), target))
    return consumer.emitError("the region took its operand's region, which '")
           << kernel << "' refuses";
  consumer.setKernel(p->name);
  return success();
}

/// The wgmma_matmul region of a lone GEMM that writes `v`, read only by
/// one op of `consumer`'s block.
ir::MatmulOp soleGemmRegion(Value v, ir::DispatchOp consumer) {
  ir::DispatchOp producer = soleOperandRegion(v, consumer, "wgmma_matmul");
  if (!producer || producer.getBody().front().getOperations().size() != 2)
    return ir::MatmulOp();
  return llvm::dyn_cast<ir::MatmulOp>(producer.getRoot());
}

/// A SwiGLU MLP: the region of its gated product (silu and mul) reads the
/// regions of two wgmma GEMMs of one A. When they take
/// passes::gatedMatmuls' form, the GEMMs move into the product's region,
/// which wgmma_gated_matmul lowers: one launch over both weights, and
/// neither projection is written.
LogicalResult absorbGatedMatmuls(ir::DispatchOp dispatch,
                                 const KernelTarget &target) {
  auto mul = llvm::dyn_cast<ir::MulOp>(dispatch.getRoot());
  Block &body = dispatch.getBody().front();
  if (!mul || body.getOperations().size() != 3)
    return success();
  for (int side = 0; side < 2; ++side) {
    auto silu = mul->getOperand(side).getDefiningOp<ir::SiluOp>();
    if (!silu || silu->getBlock() != &body)
      continue;
    ir::MatmulOp gate = soleGemmRegion(silu.getX(), dispatch);
    ir::MatmulOp up = soleGemmRegion(mul->getOperand(1 - side), dispatch);
    if (!gate || !up || !passes::isGatedForm(gate, up, silu, mul))
      return success();
    for (ir::MatmulOp gemm : {gate, up}) {
      auto producer = llvm::cast<ir::DispatchOp>(gemm->getParentOp());
      gemm->moveBefore(silu);
      producer.getResult(0).replaceAllUsesWith(gemm.getResult());
      producer.erase();
    }
    const KernelProvider *gated = findKernelProvider("wgmma_gated_matmul");
    if (!gated->matches(mul, target))
      return dispatch.emitError("the gated product's region took its GEMMs, "
                                "which wgmma_gated_matmul refuses");
    dispatch.setKernel(gated->name);
    return success();
  }
  return success();
}

/// A batched GEMM whose output a region of its own only transposes, [B, M,
/// N] to [M, B, N] (the absorbed MLA's per-head attention output, before
/// o_proj): the GEMM's region moves into the transpose's, which
/// wgmma_matmul lowers storing its tiles transposed (transposedStoreOf).
/// The copy is never written and its launch is gone.
LogicalResult absorbTransposedStore(ir::DispatchOp dispatch,
                                    const KernelTarget &target) {
  auto transpose = llvm::dyn_cast<ir::TransposeOp>(dispatch.getRoot());
  if (!transpose || dispatch.getBody().front().getOperations().size() != 2 ||
      transpose.getPerm() != ArrayRef<int64_t>{1, 0, 2})
    return success();
  ir::DispatchOp producer =
      soleOperandRegion(transpose.getX(), dispatch, "wgmma_matmul");
  auto matmul =
      producer ? llvm::dyn_cast<ir::MatmulOp>(producer.getRoot()) : nullptr;
  if (!matmul || geometryOf(matmul).batch < 2)
    return success();
  return absorbOperandRegion(dispatch, transpose, producer, "wgmma_matmul",
                             target);
}

/// An f32 simt_matmul whose result a region of its own only passes through
/// kiln.sigmoid (a DeepSeek router's scores): the matmul's region moves into
/// the sigmoid's, which simt_matmul lowers applying it as it stores
/// (simtMatmulOf). The logits are never written and the launch is gone.
LogicalResult absorbSimtEpilogue(ir::DispatchOp dispatch,
                                 const KernelTarget &target) {
  auto sigmoid = llvm::dyn_cast<ir::SigmoidOp>(dispatch.getRoot());
  if (!sigmoid || dispatch.getBody().front().getOperations().size() != 2 ||
      !sigmoid.getType().getElementType().isF32())
    return success();
  ir::DispatchOp producer =
      soleOperandRegion(sigmoid->getOperand(0), dispatch, "simt_matmul");
  if (!producer || !llvm::isa<ir::MatmulOp>(producer.getRoot()))
    return success();
  return absorbOperandRegion(dispatch, sigmoid, producer, "simt_matmul",
                             target);
}

struct SelectKernelsPass : impl::SelectKernelsBase<SelectKernelsPass> {
  using SelectKernelsBase::SelectKernelsBase;

  void runOnOperation() override {
    KernelTarget target;
    target.chip = chip;
    target.wgmma = wgmma;
    for (const std::string &provider : providers) {
      if (provider != "matmul=cublas") {
        getOperation().emitError("unknown provider '")
            << provider << "' (expected OP=PROVIDER; this build has: "
            << "matmul=cublas)";
        return signalPassFailure();
      }
      target.cublasMatmul = true;
    }
    WalkResult result = getOperation().walk([&](ir::DispatchOp dispatch) {
      Operation *root = dispatch.getRoot();
      bool hasFused = dispatch.getBody().front().getOperations().size() > 2;
      if (std::optional<StringRef> chosen = dispatch.getKernel()) {
        const KernelProvider *p = findKernelProvider(*chosen);
        if (!p) {
          dispatch.emitError("unknown kernel provider '") << *chosen << "'";
          return WalkResult::interrupt();
        }
        if ((hasFused && !p->takesFusedProducers) ||
            !p->matches(root, target)) {
          dispatch.emitError("kernel provider '")
              << *chosen << "' cannot lower this '" << root->getName()
              << "' region";
          return WalkResult::interrupt();
        }
      } else {
        const KernelProvider &p = selectKernelProvider(root, hasFused, target);
        dispatch.setKernel(p.name);
        // The tile decision of the GEMMs that leave the GPU idle: their K
        // split over a cluster's blocks.
        if (StringRef(p.name) == "wgmma_matmul" &&
            !dispatch->hasAttr(kSplitKAttrName))
          if (int64_t split = wgmmaSplitK(root); split > 1)
            dispatch->setAttr(kSplitKAttrName,
                              Builder(dispatch).getI64IntegerAttr(split));
      }
      if (dispatch->hasAttr(kTileNAttrName) &&
          !dispatch.getKernel()->starts_with("wgmma_")) {
        dispatch.emitError(kTileNAttrName)
            << " applies to the wgmma kernels, not '" << *dispatch.getKernel()
            << "'";
        return WalkResult::interrupt();
      }
      if (dispatch->hasAttr(kSplitKAttrName) &&
          dispatch.getKernel() != "wgmma_matmul") {
        dispatch.emitError(kSplitKAttrName) << " applies to wgmma_matmul, not '"
                                            << *dispatch.getKernel() << "'";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    if (fuseGemms && failed(fuseGemmNeighbours(target)))
      return signalPassFailure();
    // The tile decision of every wgmma region, once its GEMMs are final.
    getOperation().walk([&](ir::DispatchOp dispatch) {
      if (dispatch.getKernel()->starts_with("wgmma_") &&
          !dispatch->hasAttr(kTileNAttrName))
        if (int64_t width = wgmmaTileN(dispatch.getRoot()))
          dispatch->setAttr(kTileNAttrName,
                            Builder(dispatch).getI64IntegerAttr(width));
    });
  }

  /// The GEMMs' neighbours moved into their regions: strided views of A,
  /// the gate and up projections of SwiGLU MLPs, transposes of a batched
  /// GEMM's output, and a sigmoid of a CUDA-core matmul's.
  LogicalResult fuseGemmNeighbours(const KernelTarget &target) {
    // The regions that took `kernel`, collected first: absorbing erases
    // other regions.
    auto regionsOf = [&](StringRef kernel) {
      SmallVector<ir::DispatchOp> regions;
      getOperation().walk([&](ir::DispatchOp dispatch) {
        if (dispatch.getKernel() == kernel)
          regions.push_back(dispatch);
      });
      return regions;
    };
    for (ir::DispatchOp gemm : regionsOf("wgmma_matmul"))
      absorbViewOfA(gemm);
    for (ir::DispatchOp region : regionsOf("loop_nest"))
      if (failed(absorbSimtEpilogue(region, target)))
        return failure();
    if (!target.wgmma || (target.chip != "sm_90" && target.chip != "sm_90a"))
      return success();
    for (ir::DispatchOp region : regionsOf("loop_nest"))
      if (failed(absorbGatedMatmuls(region, target)) ||
          failed(absorbTransposedStore(region, target)))
        return failure();
    return success();
  }
};

} // namespace
} // namespace kiln::codegen::ptx
