//===- FormFusions.cpp - kiln-form-fusions: one kiln.dispatch per kernel --===//
//
// Groups the ops of each entry into kiln.dispatch regions, one per kernel the
// ptx target will launch, as XLA's loop and input fusion and IREE's dispatch
// region formation do. Elementwise producers are recomputed inside the kernel
// of their consumer instead of round-tripping through memory, and reductions
// over rows are computed once per row inside the elementwise kernel that
// broadcasts them back (softmax, log_softmax, rms_norm: one or two kernels).
//
// A producer fuses when every op that reads it ends up in one region: an
// elementwise op of its size, a reduction, or an index remap (transpose, slice,
// concat: each reads an operand element at a computed index, so the kernel
// reads through them and RoPE's slice/mul/concat chains and the transposes
// around attention cost no launch of their own). Elementwise ops and remaps
// both fuse as producers. A producer read by several ops of its region is
// recomputed by each, so that is left to the cheap ones (casts, broadcasts,
// remaps); a cast of a kernel input also fuses into a broadcasting consumer
// (a norm weight's bf16 -> f32 is a load and a conversion wherever it is read).
// A reduction over the trailing dims (warpRowLength) fuses when its
// single-use chain of per-row values (it, then elementwise ops of its
// keepdims shape) ends in an elementwise region over its input shape: that
// region becomes a row kernel. Reshapes (aliases) and constants need no kernel
// and stay outside unless every read of a reshape is inside one region.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/Passes.h"
#include "passes/RowReduction.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallPtrSet.h"

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

/// Ops whose every output element is one operand element at a computed index
/// (no arithmetic): a kernel reads through them instead of launching them.
bool isIndexRemap(Operation *op) { return op->hasTrait<ir::KilnIndexRemap>(); }

/// True for the ops that need no kernel: reshapes run as aliases of their
/// operand's buffer, constants are uploaded when an Executable loads, and
/// the byte-moving collectives are steps of the executor's communicator.
bool needsNoKernel(Operation *op) {
  return llvm::isa<ir::ReshapeOp, ir::ConstantOp, ir::AllGatherOp,
                   ir::AllToAllOp, ir::SendOp, ir::RecvOp>(op);
}

/// A value a kernel loads as it is: a block argument or the result of an op
/// that needs no kernel (a reshape or constant of one).
bool isKernelInput(Value v) {
  Operation *def = v.getDefiningOp();
  return !def || llvm::isa<ir::ReshapeOp, ir::ConstantOp>(def);
}

/// Producers cheap enough to recompute at every read: a load and at most a
/// conversion (casts, broadcasts and the index remaps). Others fuse only where
/// each element is read once.
bool isCheap(Operation *op) {
  return isIndexRemap(op) ||
         llvm::isa<ir::CastOp, ir::BroadcastToOp, ir::ReshapeOp>(op);
}

/// Whether `user`'s kernel may recompute `op`'s result where it reads it.
bool fusesInto(Operation *op, Operation *user) {
  // Reductions, reshapes and index remaps read each element of an operand at
  // most once (a concat reads exactly one operand per element).
  if (user->hasTrait<ir::KilnReduction>() || isIndexRemap(user) ||
      llvm::isa<ir::ReshapeOp>(user))
    return true;
  if (!isElementwise(user))
    return false;
  if (typeOf(op->getResult(0)).getNumElements() ==
      typeOf(user->getResult(0)).getNumElements())
    return true;
  // A broadcasting consumer reads an element many times: worth it only for a
  // cast of a kernel input (a norm weight's bf16 -> f32, say), which is a load
  // and a conversion wherever it is read.
  return llvm::isa<ir::CastOp>(op) && isKernelInput(op->getOperand(0));
}

/// The ops of `block` recomputed inside their consumer's kernel. First the row
/// reductions whose per-row values feed an elementwise region over their input
/// (with their per-row ops); then, from the last op to the first, every
/// elementwise op or index remap whose users all read it inside one region
/// (so each region stays a tree of reads rooted at the one op whose result
/// leaves it). A producer read by several ops of the region is recomputed by
/// each, so only cheap ones (isCheap) may have more than one user op.
llvm::DenseSet<Operation *> planFusion(Block &block) {
  llvm::DenseSet<Operation *> fused;
  // The root of the region each fused op is recomputed in.
  llvm::DenseMap<Operation *, Operation *> rootOf;
  // The row length of each row region, by its root: two reductions may share
  // a region only if they reduce rows of one length.
  llvm::DenseMap<Operation *, int64_t> rowLength;
  for (Operation &op : block.without_terminator()) {
    if (fused.contains(&op) || !op.hasTrait<ir::KilnReduction>())
      continue;
    auto chain = rowChain(&op);
    if (!chain)
      continue;
    int64_t cols = warpRowLength(&op);
    if (rowLength.try_emplace(chain->root, cols).first->second != cols)
      continue;
    fused.insert(&op);
    rootOf[&op] = chain->root;
    // The per-row ops (all but the last, which is over the full row).
    for (Operation *rowOp : ArrayRef<Operation *>(chain->ops).drop_back()) {
      fused.insert(rowOp);
      rootOf[rowOp] = chain->root;
    }
  }
  auto regionOf = [&](Operation *op) {
    auto it = rootOf.find(op);
    return it == rootOf.end() ? op : it->second;
  };
  for (Operation &op : llvm::reverse(block.without_terminator())) {
    // A reshape read only inside one region moves into it (a kernel reads
    // through it as it does through a transpose); others stay aliases.
    // A row region's root stays a root: its kernel reduces rows of its own
    // shape first (the row kernel), which no other root's kernel does.
    if (fused.contains(&op) || op.getNumResults() != 1 ||
        op.hasTrait<ir::KilnReduction>() || rowLength.count(&op) ||
        !(isElementwise(&op) || isIndexRemap(&op) ||
          llvm::isa<ir::ReshapeOp>(op)))
      continue;
    Value result = op.getResult(0);
    if (result.use_empty())
      continue;
    Operation *root = nullptr;
    llvm::SmallPtrSet<Operation *, 4> users;
    bool ok = true;
    for (Operation *user : result.getUsers()) {
      users.insert(user);
      Operation *userRoot = regionOf(user);
      // (A reshape left outside every region is an alias, not a kernel.)
      ok &= user->getBlock() == &block && fusesInto(&op, user) &&
            !needsNoKernel(userRoot) && (!root || root == userRoot);
      root = userRoot;
    }
    if (!ok || (users.size() > 1 && !isCheap(&op)))
      continue;
    fused.insert(&op);
    rootOf[&op] = root;
  }
  return fused;
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
