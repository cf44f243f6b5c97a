//===- Fusion.cpp - which ops the ptx target fuses into their consumer ----===//
//
// Fusion only ever follows single-use edges, so every region is a tree whose
// root is the one op whose result leaves it: no value is computed twice except
// that a region recomputes nothing it did not compute before (the consumer
// reads each producer element exactly as often as it would have loaded it).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/Fusion.h"

#include "codegen/ptx/KernelBuilder.h"
#include "ir/KilnOps.h"

using namespace mlir;

namespace kiln::codegen::ptx {

llvm::DenseSet<Operation *> planFusion(func::FuncOp func) {
  llvm::DenseSet<Operation *> fused;
  for (Operation &op : func.getBody().front().without_terminator()) {
    if (!isElementwise(&op) || op.getNumResults() != 1 || !op.getResult(0).hasOneUse())
      continue;
    Operation *user = *op.getResult(0).getUsers().begin();
    if (user->getBlock() != op.getBlock())
      continue;
    auto numElements = [](Value v) {
      return llvm::cast<RankedTensorType>(v.getType()).getNumElements();
    };
    bool intoElementwise =
        isElementwise(user) && numElements(op.getResult(0)) == numElements(user->getResult(0));
    bool intoReduction = user->hasTrait<ir::KilnReduction>();
    if (intoElementwise || intoReduction)
      fused.insert(&op);
  }
  return fused;
}

} // namespace kiln::codegen::ptx
