//===- FormFusions.cpp - kiln-form-fusions: one kiln.dispatch per kernel --===//
//
// Groups the ops of each entry into kiln.dispatch regions, one per kernel the
// ptx target will launch, as XLA's loop and input fusion and IREE's dispatch
// region formation do. Elementwise producers are recomputed inside the kernel
// of their consumer instead of round-tripping through memory, and reductions
// over rows are computed once per row inside the elementwise kernel that
// broadcasts them back (softmax, log_softmax, rms_norm: one or two kernels).
//
// Fusion only follows single-use edges, so every region is a tree whose root
// is the one op whose result leaves it. An elementwise producer fuses when its
// one use is an elementwise op of the same number of elements (no broadcast
// would make the kernel recompute it) or a reduction. A reduction over the
// trailing dims (warpRowLength) fuses when its single-use chain of per-row
// values (it, then elementwise ops of its keepdims shape) ends in an
// elementwise region over its input shape: that region becomes a row kernel.
// Reshapes (aliases) and constants need no kernel and stay outside.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/Passes.h"
#include "passes/RowReduction.h"

#include "llvm/ADT/DenseSet.h"

namespace kiln::passes {
#define GEN_PASS_DEF_FORMFUSIONS
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

RankedTensorType typeOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType());
}

bool isElementwise(Operation *op) {
  return op->hasTrait<ir::KilnElementwise>();
}

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
  Operation *last = chain.back();
  while (Operation *next = soleUser(last)) {
    if (next->hasTrait<ir::KilnReduction>())
      return std::nullopt;
    if (!isElementwise(next) ||
        typeOf(next->getResult(0)).getNumElements() != input.getNumElements())
      break;
    last = next;
  }
  return RowChain{chain, last};
}

/// The ops of `block` recomputed inside their consumer's kernel.
llvm::DenseSet<Operation *> planFusion(Block &block) {
  llvm::DenseSet<Operation *> fused;
  // The row length of each row region, by its root: two reductions may share
  // a region only if they reduce rows of one length.
  llvm::DenseMap<Operation *, int64_t> rowLength;
  for (Operation &op : block.without_terminator()) {
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
        isElementwise(user) && typeOf(op.getResult(0)).getNumElements() ==
                                   typeOf(user->getResult(0)).getNumElements();
    bool intoReduction = user->hasTrait<ir::KilnReduction>();
    if (intoElementwise || intoReduction)
      fused.insert(&op);
  }
  return fused;
}

/// True for the ops that need no kernel: reshapes run as aliases of their
/// operand's buffer, constants are uploaded when an Executable loads, and
/// the byte-moving collectives are steps of the executor's communicator.
bool needsNoKernel(Operation *op) {
  return llvm::isa<ir::ReshapeOp, ir::ConstantOp, ir::AllGatherOp,
                   ir::AllToAllOp, ir::SendOp, ir::RecvOp>(op);
}

/// Wraps `root` and the fused producers it reads (transitively) into one
/// kiln.dispatch at the root's position. Producers keep their relative order;
/// moving them down to their consumer is legal because each has one use.
void formDispatch(Operation *root, const llvm::DenseSet<Operation *> &fused) {
  SmallVector<Operation *> members;
  SmallVector<Operation *> worklist = {root};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp();
          def && fused.contains(def) && !llvm::is_contained(members, def)) {
        members.push_back(def);
        worklist.push_back(def);
      }
  }
  llvm::sort(members,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  OpBuilder builder(root);
  auto dispatch = builder.create<ir::DispatchOp>(
      root->getLoc(), root->getResultTypes(), /*kernel=*/nullptr);
  Block *body = new Block();
  dispatch.getBody().push_back(body);
  for (Operation *member : members)
    member->moveBefore(body, body->end());
  root->moveBefore(body, body->end());
  auto yield = OpBuilder::atBlockEnd(body).create<ir::YieldOp>(
      root->getLoc(), root->getResults());
  for (auto [inner, outer] :
       llvm::zip(root->getResults(), dispatch.getResults()))
    inner.replaceAllUsesExcept(outer, yield);
}

struct FormFusionsPass : impl::FormFusionsBase<FormFusionsPass> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (func.isExternal() || !func.getBody().hasOneBlock())
        return;
      Block &block = func.getBody().front();
      llvm::DenseSet<Operation *> fused = planFusion(block);
      SmallVector<Operation *> roots;
      for (Operation &op : block.without_terminator())
        if (llvm::isa<ir::KilnDialect>(op.getDialect()) &&
            !llvm::isa<ir::DispatchOp>(op) && !fused.contains(&op) &&
            !needsNoKernel(&op))
          roots.push_back(&op);
      for (Operation *root : roots)
        formDispatch(root, fused);
    });
  }
};

} // namespace
} // namespace kiln::passes
