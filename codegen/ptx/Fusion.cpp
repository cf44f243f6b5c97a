//===- Fusion.cpp - which ops the ptx target fuses into their consumer ----===//
//
// Fusion only ever follows single-use edges, so every region is a tree whose
// root is the one op whose result leaves it. Elementwise producers of the same
// size as their consumer are recomputed where it reads them (each element
// exactly as often as it would have been loaded). A reduction over the
// trailing dims is fused when its single-use chain of per-row values (the
// reduction, then elementwise ops of its keepdims shape) ends in an
// elementwise region over the reduction's input shape: the region becomes a
// row kernel that reduces each row once, in registers, before computing the
// row's elements (softmax, log_softmax, rms_norm: one or two kernels each).
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/Fusion.h"

#include "codegen/ptx/KernelBuilder.h"
#include "ir/KilnOps.h"

using namespace mlir;

namespace kiln::codegen::ptx {
namespace {

RankedTensorType typeOf(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

/// The single user of `op`'s only result in its block, or null.
Operation *soleUser(Operation *op) {
  if (op->getNumResults() != 1 || !op->getResult(0).hasOneUse())
    return nullptr;
  Operation *user = *op->getResult(0).getUsers().begin();
  return user->getBlock() == op->getBlock() ? user : nullptr;
}

struct RowChain {
  SmallVector<Operation *> ops; // per-row ops, then the first full-row op
  Operation *root;              // the region's root
};

/// For a reduction that could be fused: the per-row elementwise ops after it
/// (in order, ending with the first op over the full row shape) and the root
/// of the region they end in, or nothing when its chain does not end in an
/// elementwise region over its input shape.
std::optional<RowChain> rowChain(Operation *reduction) {
  if (warpRowLength(reduction) == 0)
    return std::nullopt;
  RankedTensorType input = typeOf(reduction->getOperand(0));
  RankedTensorType rowType = typeOf(reduction->getResult(0));
  // Per-row values must broadcast along the reduced (trailing) dims only:
  // the keepdims layout.
  if (rowType.getRank() != input.getRank())
    return std::nullopt;
  SmallVector<Operation *> chain;
  Operation *current = reduction;
  while (true) {
    Operation *next = soleUser(current);
    if (!next || !isElementwise(next))
      return std::nullopt;
    chain.push_back(next);
    RankedTensorType nextType = typeOf(next->getResult(0));
    if (nextType.getShape() == rowType.getShape()) {
      current = next;
      continue;
    }
    if (nextType.getShape() != input.getShape())
      return std::nullopt;
    break;
  }
  // From the first full-row op on, same-size elementwise ops fuse as usual;
  // the region's root must be elementwise (not a reduction: that kernel has
  // no row phase).
  Operation *current2 = chain.back();
  while (Operation *next = soleUser(current2)) {
    if (next->hasTrait<ir::KilnReduction>())
      return std::nullopt;
    if (!isElementwise(next) ||
        typeOf(next->getResult(0)).getNumElements() != input.getNumElements())
      break;
    current2 = next;
  }
  return RowChain{chain, current2};
}

} // namespace

llvm::DenseSet<Operation *> planFusion(func::FuncOp func) {
  llvm::DenseSet<Operation *> fused;
  // The row length of each row region, by its root: two reductions may share
  // a region only if they reduce rows of one length.
  llvm::DenseMap<Operation *, int64_t> rowLength;
  for (Operation &op : func.getBody().front().without_terminator()) {
    if (fused.contains(&op))
      continue;
    if (op.hasTrait<ir::KilnReduction>()) {
      auto chain = rowChain(&op);
      if (!chain)
        continue;
      int64_t cols = warpRowLength(&op);
      if (rowLength.try_emplace(chain->root, cols).first->second != cols)
        continue;
      fused.insert(&op);
      // The per-row ops (all but the last, which is over the full row).
      for (Operation *rowOp : ArrayRef<Operation *>(chain->ops).drop_back())
        fused.insert(rowOp);
      continue;
    }
    Operation *user = soleUser(&op);
    if (!isElementwise(&op) || !user)
      continue;
    bool intoElementwise =
        isElementwise(user) &&
        typeOf(op.getResult(0)).getNumElements() == typeOf(user->getResult(0)).getNumElements();
    bool intoReduction = user->hasTrait<ir::KilnReduction>();
    if (intoElementwise || intoReduction)
      fused.insert(&op);
  }
  return fused;
}

} // namespace kiln::codegen::ptx
