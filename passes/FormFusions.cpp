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
// reshapes, remaps); cheap ops of kernel inputs also fuse into a broadcasting
// consumer (a norm weight's bf16 -> f32, RoPE's cos cast and reshaped for the
// heads: a load and a conversion wherever they are read).
//
// A producer read by several regions is cloned into each (recomputed there)
// instead of launching a kernel of its own, when that is cheap:
//  - it is a cast, broadcast, reshape or index remap (a load and at most a
//    conversion), or one simple arithmetic op (add, mul, min, a compare, a
//    select: no division or transcendental), with at most one arithmetic
//    clone on any path of reads inside a region (kMaxClonedArithmetic: the
//    residual stream's adds, cloned layer after layer, would otherwise each
//    re-add every earlier layer);
//  - the clones read no more bytes than its own kernel would move: with
//    `in` and `out` its operand and result bytes, regions * in <= in + out *
//    (1 + regions) (a widening cast or a remap always passes; an f32 -> bf16
//    cast or a bf16 add passes for up to three regions).
// In the decode step this clones the residual adds (read by the next rms_norm
// and the next residual add), RoPE's cos/sin casts (read by every layer's q
// and k rotations) and the transposed q (read by its nope and rope halves).
// A clone is the same op on the same operands, so no result changes a bit.
//
// The dequantize of an int4 weight fuses into the GEMM that reads it where
// that GEMM can dequantize as it loads (passes/Precision.h,
// isGemmInt4Weight): targets without such a GEMM expand the dequantize first.
// Likewise the concat that joins a decode step's latent and RoPE key caches
// fuses into the decode attention that reads it (passes/DecodeAttention.h):
// that kernel reads the key through it, so the joined key is never written.
// An exact widening cast read only by an f32 (f64) matmul fuses into it: the
// CUDA-core kernel converts what it loads anyway. A moe_combine applies the
// routing weights itself (passes/WeightedCombine.h): their gather and the
// scaled copy of the rows fuse into it. No other producer fuses into an
// attention, a GEMM or a combine.
//
// A reduction over the trailing dims (warpRowLength) fuses when its
// single-use chain of per-row values (it, then elementwise ops of its
// keepdims shape) ends in an elementwise region over its input shape: that
// region becomes a row kernel. Reshapes (aliases) and constants need no kernel
// and stay outside unless every read of a reshape is inside one region (or,
// for a reshape of a computed value, inside regions it is cloned into).
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "passes/DecodeAttention.h"
#include "passes/Passes.h"
#include "passes/Precision.h"
#include "passes/RowReduction.h"
#include "passes/WeightedCombine.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
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

/// Whether `v` is a kernel input or cheap ops (isCheap) of kernel inputs: a
/// load and at most a conversion wherever it is read. (Chains are short; the
/// depth bound only keeps a pathological one from costing much.)
bool isLoadOfInputs(Value v, int depth) {
  if (isKernelInput(v))
    return true;
  Operation *def = v.getDefiningOp();
  return depth < 8 && isCheap(def) &&
         llvm::all_of(def->getOperands(), [&](Value operand) {
           return isLoadOfInputs(operand, depth + 1);
         });
}

/// Whether `cast` widens exactly into the f32 or f64 that `matmul` (of that
/// element type: a CUDA-core matmul, never a tensor-core one) computes in.
bool isExactWideningIntoFloatMatmul(ir::CastOp cast, ir::MatmulOp matmul) {
  Type from = typeOf(cast.getX()).getElementType();
  Type to = typeOf(cast.getResult()).getElementType();
  Type result = typeOf(matmul.getResult()).getElementType();
  bool narrowFloat = from.isBF16() || from.isF16();
  return to == result && ((to.isF32() && narrowFloat) ||
                          (to.isF64() && (narrowFloat || from.isF32())));
}

/// Roots whose kernels read only the producers planned for them above (an
/// int4 weight's dequantize, a widening cast into a CUDA-core matmul, a
/// decode attention's key concat, a combine's routing weights): nothing else
/// fuses through those producers into them.
bool takesPlannedProducersOnly(Operation *root) {
  return llvm::isa<ir::AttentionOp, ir::MatmulOp, ir::GroupedMatmulOp,
                   ir::MoeCombineOp>(root);
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
  // A broadcasting consumer reads an element many times: worth it only for
  // cheap ops of kernel inputs (a norm weight's bf16 -> f32, RoPE's cos and
  // sin cast and reshaped for the heads), a load and a conversion wherever
  // they are read.
  return isCheap(op) && llvm::all_of(op->getOperands(), [](Value v) {
           return isLoadOfInputs(v, /*depth=*/0);
         });
}

/// Elementwise ops whose scalar body is one integer or float instruction or
/// two (no division, power or transcendental): a clone into another kernel
/// repeats a negligible amount of work next to the loads it saves.
bool isSimpleArithmetic(Operation *op) {
  return llvm::isa<ir::NegOp, ir::AbsOp, ir::SignOp, ir::AddOp, ir::SubOp,
                   ir::MulOp, ir::MaximumOp, ir::MinimumOp, ir::LogicalNotOp,
                   ir::LogicalAndOp, ir::LogicalOrOp, ir::EqualOp,
                   ir::NotEqualOp, ir::LessOp, ir::LessEqualOp, ir::GreaterOp,
                   ir::GreaterEqualOp, ir::SelectOp>(op);
}

/// The most arithmetic ops (isSimpleArithmetic) one kernel's clone of a value
/// may chain: a clone reads its operands where a materialized value would be
/// read, so a longer chain would read ever more tensors (the residual stream's
/// adds, cloned layer after layer, would each sum every earlier layer).
constexpr int kMaxClonedArithmetic = 1;

/// Bytes one element of `element` takes in memory (an i1 takes a byte).
int64_t bytesOf(Type element) {
  if (!element.isIntOrFloat())
    return 8;
  return std::max<unsigned>(element.getIntOrFloatBitWidth(), 8) / 8;
}

/// Whether recomputing `op` in each of `regions` kernels moves no more bytes
/// than the kernel of its own that the clones replace: that kernel reads the
/// operands once and writes the result, which each region then reads, so
/// cloning pays when regions * in <= in + out * (1 + regions). `in` counts
/// the operand elements one result element reads at most (a broadcast or a
/// concat reads fewer than the result's, a slice no more), `out` the result.
/// Casts to a wider type and the index remaps always pay; an f32 -> bf16 cast
/// or a bf16 add of two tensors pays for up to three regions.
bool clonePaysForReads(Operation *op, int64_t regions) {
  RankedTensorType result = typeOf(op->getResult(0));
  int64_t count = result.getNumElements();
  int64_t in = 0;
  for (Value operand : op->getOperands()) {
    RankedTensorType t = typeOf(operand);
    in += std::min(t.getNumElements(), count) * bytesOf(t.getElementType());
  }
  int64_t out = count * bytesOf(result.getElementType());
  return regions * in <= in + out * (1 + regions);
}

/// The ops of `block` recomputed inside their consumer's kernel. First the row
/// reductions whose per-row values feed an elementwise region over their input
/// (with their per-row ops); then, from the last op to the first, every
/// elementwise op or index remap whose users all read it inside one region
/// (so each region stays a tree of reads rooted at the one op whose result
/// leaves it). A producer read by several ops of the region is recomputed by
/// each, so only cheap ones (isCheap) may have more than one user op.
///
/// A producer whose users sit in several regions is cloned, one copy per
/// region, instead of launching a kernel of its own, when the clones are
/// cheap: it is a cast, broadcast or index remap, or simple arithmetic
/// (isSimpleArithmetic) such that no clone chains more than
/// kMaxClonedArithmetic of them on a path of reads; and the clones read no more
/// bytes than its own kernel would move (clonePaysForReads). This rewrites
/// `block`: the clones replace the producer, which is erased.
llvm::DenseSet<Operation *> planFusion(Block &block) {
  llvm::DenseSet<Operation *> fused;
  // The root of the region each fused op is recomputed in.
  llvm::DenseMap<Operation *, Operation *> rootOf;
  // For each fused op: the most arithmetic clones (kMaxClonedArithmetic) on a
  // path of reads from it to its region's root, itself included.
  llvm::DenseMap<Operation *, int> clonedArithmetic;
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
  // An int4 weight the GEMM reading it can dequantize as it loads it
  // (isGemmInt4Weight) is recomputed in that GEMM's kernel: its bf16 copy,
  // four times the bytes, never reaches memory.
  for (Operation &op : block.without_terminator())
    if (auto dequantize = llvm::dyn_cast<ir::DequantizeOp>(op);
        dequantize && isGemmInt4Weight(dequantize)) {
      fused.insert(&op);
      rootOf[&op] = *dequantize->getUsers().begin();
    }
  // An exact widening cast (bf16 or f16 to f32, or to f64) read only by a
  // float matmul, which the CUDA-core kernel computes: that kernel converts
  // every element it loads to f32 (f64) anyway, so it reads the narrow
  // source and the widened copy is never written (a router's input).
  for (Operation &op : block.without_terminator())
    if (auto matmul = llvm::dyn_cast<ir::MatmulOp>(op))
      for (Value operand : {matmul.getA(), matmul.getB()})
        if (auto cast = operand.getDefiningOp<ir::CastOp>();
            cast && cast->hasOneUse() && cast->getBlock() == &block &&
            isExactWideningIntoFloatMatmul(cast, matmul)) {
          fused.insert(cast);
          rootOf[cast] = &op;
        }
  // The key concat (and its reshape) a decode attention reads through.
  for (Operation &op : block.without_terminator())
    if (auto attention = llvm::dyn_cast<ir::AttentionOp>(op))
      if (ir::ConcatOp concat = fusedKeyConcat(attention)) {
        for (Operation *member :
             {concat.getOperation(), attention.getK().getDefiningOp()}) {
          fused.insert(member);
          rootOf[member] = &op;
        }
      }
  // The routing weights a moe_combine applies as it reads each routed row
  // (passes/WeightedCombine.h): the gather and the scaled rows.
  for (Operation &op : block.without_terminator())
    if (auto combine = llvm::dyn_cast<ir::MoeCombineOp>(op))
      if (auto chain = weightedCombineRows(combine))
        for (Operation *member : chain->ops)
          if (member->getBlock() == &block) {
            fused.insert(member);
            rootOf[member] = &op;
          }
  auto regionOf = [&](Operation *op) {
    auto it = rootOf.find(op);
    return it == rootOf.end() ? op : it->second;
  };
  // Cloning inserts ops and erases the producer: walk a snapshot.
  SmallVector<Operation *> order;
  for (Operation &op : llvm::reverse(block.without_terminator()))
    order.push_back(&op);
  for (Operation *op : order) {
    // A reshape read only inside one region moves into it (a kernel reads
    // through it as it does through a transpose); others stay aliases.
    // A row region's root stays a root: its kernel reduces rows of its own
    // shape first (the row kernel), which no other root's kernel does.
    if (fused.contains(op) || op->getNumResults() != 1 ||
        op->hasTrait<ir::KilnReduction>() || rowLength.count(op) ||
        !(isElementwise(op) || isIndexRemap(op) ||
          llvm::isa<ir::ReshapeOp>(op)))
      continue;
    Value result = op->getResult(0);
    if (result.use_empty())
      continue;
    // The users of `op`, by the root of the region each is in (in a fixed
    // order, so the clones are too).
    llvm::MapVector<Operation *, llvm::SmallSetVector<Operation *, 4>>
        usersByRegion;
    bool ok = true;
    for (Operation *user : result.getUsers()) {
      Operation *userRoot = regionOf(user);
      // (A reshape left outside every region is an alias, not a kernel.)
      ok &= user->getBlock() == &block && fusesInto(op, user) &&
            !needsNoKernel(userRoot) && !takesPlannedProducersOnly(userRoot);
      usersByRegion[userRoot].insert(user);
    }
    if (!ok)
      continue;
    // Only cheap producers are recomputed by several ops of one region.
    if (!isCheap(op) && llvm::any_of(usersByRegion, [](const auto &entry) {
          return entry.second.size() > 1;
        }))
      continue;
    // The arithmetic clones a path of reads from `op` to its root in each
    // region passes.
    auto arithmeticAbove = [&](ArrayRef<Operation *> users) {
      int most = 0;
      for (Operation *user : users)
        most = std::max(most, clonedArithmetic.lookup(user));
      return most;
    };
    if (usersByRegion.size() == 1) {
      fused.insert(op);
      rootOf[op] = usersByRegion.front().first;
      clonedArithmetic[op] =
          arithmeticAbove(usersByRegion.front().second.getArrayRef());
      continue;
    }
    // Several regions read it: clone it into each, or leave it a kernel. A
    // reshape of a kernel input stays an alias outside (that costs nothing);
    // one of a computed value is cloned, so the producer can be too.
    if ((llvm::isa<ir::ReshapeOp>(op) && isKernelInput(op->getOperand(0))) ||
        !(isCheap(op) || isSimpleArithmetic(op)) ||
        !clonePaysForReads(op, usersByRegion.size()))
      continue;
    int own = isCheap(op) ? 0 : 1;
    if (llvm::any_of(usersByRegion, [&](const auto &entry) {
          return own + arithmeticAbove(entry.second.getArrayRef()) >
                 kMaxClonedArithmetic;
        }))
      continue;
    OpBuilder builder(op);
    for (auto &[root, users] : usersByRegion) {
      Operation *clone = builder.clone(*op);
      result.replaceUsesWithIf(clone->getResult(0), [&](OpOperand &use) {
        return users.contains(use.getOwner());
      });
      fused.insert(clone);
      rootOf[clone] = root;
      clonedArithmetic[clone] = own + arithmeticAbove(users.getArrayRef());
    }
    op->erase();
  }
  return fused;
}

/// Wraps `root` and the fused producers it reads (transitively) into one
/// kiln.dispatch at the root's position. Producers keep their relative order;
/// moving them down to their consumer is legal because every use is inside.
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
