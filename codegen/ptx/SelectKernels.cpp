//===- SelectKernels.cpp - kiln-select-kernels ----------------------------===//
//
// Kernel choice as IR: each kiln.dispatch records the provider that lowers it,
// so --dump-ir shows the choice and lit tests pin it (see KernelTable.h), and
// the tile decision that changes the launch's shape: a split of K over a
// cluster (kiln.split_k, WgmmaMatmul.h).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/KernelTable.h"
#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnOps.h"

namespace kiln::codegen::ptx {
#define GEN_PASS_DEF_SELECTKERNELS
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

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
      if (dispatch->hasAttr(kSplitKAttrName) &&
          dispatch.getKernel() != "wgmma_matmul") {
        dispatch.emitError(kSplitKAttrName) << " applies to wgmma_matmul, not '"
                                            << *dispatch.getKernel() << "'";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
} // namespace kiln::codegen::ptx
