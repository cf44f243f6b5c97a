//===- BucketGradients.cpp - kiln-bucket-gradients ------------------------===//
//
// kiln-data-parallel averages each replicated parameter's gradient with its
// own all_reduce, after the whole backward. Once the backward exists, this
// pass regroups them as PyTorch's DDP does: in the order the backward
// produces the gradients (last layers first), into buckets of one element
// type and at most bucket-bytes, each one all_reduce of the concatenated
// gradients placed as soon as its last gradient is computed. An all_reduce
// sums elementwise, so every gradient's bits are unchanged. What depends on
// a bucket (the slices giving each gradient back, the average, the
// optimizer's update) then moves as late as the program allows, so an
// executor that waits for a collective where its result is first read runs
// the rest of the backward meanwhile.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace kiln::passes {
#define GEN_PASS_DEF_BUCKETGRADIENTS
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

constexpr llvm::StringLiteral kGradientAttr = "kiln.gradient";

/// Where a value becomes available in `block`: its defining op, or the
/// block's start for an argument.
Operation *readyAt(Value v, Block &block) {
  Operation *def = v.getDefiningOp();
  return def ? block.findAncestorOpInBlock(*def) : nullptr;
}

bool readyBefore(Operation *a, Operation *b) {
  if (!a || !b)
    return !a && b;
  return a->isBeforeInBlock(b);
}

int64_t byteSize(RankedTensorType type) {
  return type.getNumElements() *
         std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
}

struct BucketGradientsPass : impl::BucketGradientsBase<BucketGradientsPass> {
  using BucketGradientsBase::BucketGradientsBase;

  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (!func.isExternal())
        runOnBlock(func.getBody().front());
    });
  }

  void runOnBlock(Block &block) {
    SmallVector<AllReduceOp> marked;
    for (Operation &op : block)
      if (auto r = llvm::dyn_cast<AllReduceOp>(op);
          r && r->hasAttr(kGradientAttr) && r.getReduction() == "sum")
        marked.push_back(r);
    if (marked.size() < 2)
      return;
    // The backward's order: the gradient computed first is reduced first.
    llvm::stable_sort(marked, [&](AllReduceOp a, AllReduceOp b) {
      return readyBefore(readyAt(a.getX(), block), readyAt(b.getX(), block));
    });
    SmallVector<AllReduceOp> bucket;
    SmallVector<Operation *> fused;
    int64_t bytes = 0;
    auto flush = [&]() {
      if (bucket.size() > 1)
        fused.push_back(fuse(bucket, block));
      else if (bucket.size() == 1)
        bucket.front()->removeAttr(kGradientAttr);
      bucket.clear();
      bytes = 0;
    };
    for (AllReduceOp r : marked) {
      auto type = r.getX().getType();
      bool fits = bucket.empty() ||
                  (type.getElementType() ==
                       bucket.front().getX().getType().getElementType() &&
                   r.getGroupSize() == bucket.front().getGroupSize() &&
                   bytes + byteSize(type) <= bucketBytes);
      if (!fits)
        flush();
      bucket.push_back(r);
      bytes += byteSize(type);
    }
    flush();
    sinkReads(block, fused);
  }

  /// Moves every op that depends on a bucket's all_reduce (the slices
  /// giving gradients back, the average, the optimizer's update) to just
  /// before its first user, last first: as late as the program allows, so
  /// nothing waits for the collective while independent work remains. Every
  /// op is pure, so only the order changes.
  void sinkReads(Block &block, ArrayRef<Operation *> fused) {
    SmallVector<Operation *> reads;
    llvm::SmallPtrSet<Operation *, 16> dependent(fused.begin(), fused.end());
    for (Operation &op : block) {
      if (dependent.contains(&op) || op.hasTrait<OpTrait::IsTerminator>())
        continue;
      bool readsBucket = llvm::any_of(op.getOperands(), [&](Value v) {
        Operation *def = v.getDefiningOp();
        return def && dependent.contains(def);
      });
      if (readsBucket) {
        reads.push_back(&op);
        dependent.insert(&op);
      }
    }
    for (Operation *op : llvm::reverse(reads)) {
      Operation *first = nullptr;
      for (Operation *user : op->getUsers())
        if (Operation *at = block.findAncestorOpInBlock(*user);
            at && (!first || at->isBeforeInBlock(first)))
          first = at;
      if (first)
        op->moveBefore(first);
    }
  }

  /// One all_reduce of the bucket's gradients, flattened and concatenated,
  /// right after the last of them is computed.
  Operation *fuse(MutableArrayRef<AllReduceOp> bucket, Block &block) {
    Operation *last = nullptr;
    for (AllReduceOp r : bucket)
      if (Operation *at = readyAt(r.getX(), block); readyBefore(last, at))
        last = at;
    OpBuilder b(block.getParentOp()->getContext());
    if (last)
      b.setInsertionPointAfter(last);
    else
      b.setInsertionPointToStart(&block);
    PrimitiveBuilder pb(b, bucket.front().getLoc());
    SmallVector<Value> flat;
    for (AllReduceOp r : bucket)
      flat.push_back(
          pb.reshape(r.getX(), {r.getX().getType().getNumElements()}));
    Value all = pb.op<AllReduceOp>(
        pb.concat(flat, 0),
        {b.getNamedAttr("reduction", b.getStringAttr("sum")),
         b.getNamedAttr("group_size",
                        b.getI64IntegerAttr(bucket.front().getGroupSize()))});
    int64_t at = 0;
    for (AllReduceOp r : bucket) {
      auto type = r.getX().getType();
      int64_t n = type.getNumElements();
      Value mine = pb.reshape(pb.slice(all, 0, at, at + n), type.getShape());
      at += n;
      r.getResult().replaceAllUsesWith(mine);
      r.erase();
    }
    return all.getDefiningOp();
  }
};

} // namespace
} // namespace kiln::passes
