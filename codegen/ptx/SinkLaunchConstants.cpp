//===- SinkLaunchConstants.cpp - kiln-sink-launch-constants ---------------===//
//
// Moves constant operands of every launch into its kernel, so launches pass
// buffers only (the Launch message's bare-pointer parameter list).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxPasses.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/BitVector.h"

namespace kiln::codegen::ptx {
#define GEN_PASS_DEF_SINKLAUNCHCONSTANTS
#include "codegen/ptx/PtxPasses.h.inc"
} // namespace kiln::codegen::ptx

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

struct SinkLaunchConstantsPass
    : impl::SinkLaunchConstantsBase<SinkLaunchConstantsPass> {
  void runOnOperation() override {
    getOperation().walk([&](gpu::LaunchFuncOp launch) {
      auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
          launch, launch.getKernel());
      if (!kernel)
        return;
      llvm::BitVector erase(kernel.getNumArguments());
      SmallVector<Value> kept;
      for (auto [i, operand] : llvm::enumerate(launch.getKernelOperands())) {
        auto constant = operand.getDefiningOp<arith::ConstantOp>();
        if (!constant) {
          kept.push_back(operand);
          continue;
        }
        OpBuilder b(kernel.getBody());
        Value sunk = b.clone(*constant)->getResult(0);
        kernel.getArgument(i).replaceAllUsesWith(sunk);
        erase.set(i);
      }
      kernel.eraseArguments(erase);
      launch.getKernelOperandsMutable().assign(kept);
    });
  }
};

} // namespace
} // namespace kiln::codegen::ptx
