//===- ExpandCollectives.cpp - kiln-expand-collectives --------------------===//
//
// A communicator that only moves bytes (NCCL here: its own reductions sum in
// an order of its choosing) needs the reductions of all_reduce and
// reduce_scatter as ordinary ops, which the target's kernels then run:
//
//   all_reduce(x)  = all_gather(reduce(all_to_all(x as [G, n/G] blocks)))
//   reduce_scatter = reduce(all_to_all(blocks of the scattered axis))
//   all_gather(x, axis) = transpose(all_gather(x as [1, ...], axis 0))
//
// Each rank receives the G blocks it reduces in rank order, so the sum is
// the same on every rank; its association order is the target's reduction
// kernel's (see docs/OPS.md).
//
//===----------------------------------------------------------------------===//

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"
#include "passes/Passes.h"

namespace kiln::passes {
#define GEN_PASS_DEF_EXPANDCOLLECTIVES
#include "passes/Passes.h.inc"
} // namespace kiln::passes

using namespace mlir;

namespace kiln::passes {
namespace {

using namespace kiln::ir;

struct Builder {
  Builder(Operation *op) : b(op), pb(b, op->getLoc()) {}

  NamedAttribute i64(StringRef name, int64_t v) {
    return b.getNamedAttr(name, b.getI64IntegerAttr(v));
  }
  Value transpose(Value x, ArrayRef<int64_t> perm) {
    return pb.op<TransposeOp>(
        x, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
  }
  /// blocks [G, m] -> the [G, m] blocks every rank sent this one.
  Value exchange(Value blocks, int64_t groups) {
    Type i64Type = b.getI64Type();
    auto countsType = RankedTensorType::get({groups}, i64Type);
    SmallVector<int64_t> one(groups, 1);
    Value ones = pb.op<ConstantOp>(
        {}, {b.getNamedAttr("value", DenseElementsAttr::get(
                                         countsType, ArrayRef<int64_t>(one)))});
    return b
        .create<AllToAllOp>(pb.location(), ValueRange{blocks, ones},
                            ArrayRef<NamedAttribute>{
                                i64("capacity", groups),
                                i64("group_size", groups)})
        .getResult();
  }
  /// The reduction over axis 0 of [G, m]: floats summed in their compute
  /// type and rounded once.
  Value reduce(Value received, StringRef reduction) {
    Type element = PrimitiveBuilder::typeOf(received).getElementType();
    SmallVector<NamedAttribute> attrs = {
        b.getNamedAttr("axes", b.getDenseI64ArrayAttr({0})),
        b.getNamedAttr("keepdims", b.getBoolAttr(false))};
    if (reduction == "max")
      return pb.op<MaxOp>(received, attrs);
    if (reduction == "min")
      return pb.op<MinOp>(received, attrs);
    if (!llvm::isa<FloatType>(element))
      return pb.op<SumOp>(received, attrs);
    Type compute = pb.computeType(element);
    return pb.cast(pb.op<SumOp>(pb.cast(received, compute), attrs), element);
  }

  OpBuilder b;
  PrimitiveBuilder pb;
};

int64_t numElements(Value v) {
  return PrimitiveBuilder::typeOf(v).getNumElements();
}

/// A shape seen around one axis: [outer, n, inner].
struct AroundAxis {
  int64_t axis, outer = 1, n, inner = 1;
};

AroundAxis around(RankedTensorType type, int64_t axis) {
  AroundAxis a;
  a.axis = axis < 0 ? axis + type.getRank() : axis;
  for (int64_t i = 0; i < a.axis; ++i)
    a.outer *= type.getDimSize(i);
  a.n = type.getDimSize(a.axis);
  for (int64_t i = a.axis + 1; i < type.getRank(); ++i)
    a.inner *= type.getDimSize(i);
  return a;
}

void expandAllReduce(AllReduceOp op) {
  Builder g(op);
  int64_t groups = op.getGroupSize(), n = numElements(op.getX());
  auto type = op.getX().getType();
  int64_t block = (n + groups - 1) / groups;
  Value flat = g.pb.reshape(op.getX(), {n});
  if (groups * block > n) {
    auto padType =
        RankedTensorType::get({groups * block - n}, type.getElementType());
    Value zeros = g.pb.op<ConstantOp>(
        {}, {g.b.getNamedAttr("value", g.b.getZeroAttr(padType))});
    flat = g.pb.concat({flat, zeros}, 0);
  }
  Value received =
      g.exchange(g.pb.reshape(flat, {groups, block}), groups);
  Value mine = g.reduce(received, op.getReduction());
  Value gathered = g.pb.op<AllGatherOp>(
      mine, {g.i64("axis", 0), g.i64("group_size", groups)});
  Value out = g.pb.reshape(g.pb.slice(gathered, 0, 0, n), type.getShape());
  op.replaceAllUsesWith(out);
  op.erase();
}

void expandReduceScatter(ReduceScatterOp op) {
  Builder g(op);
  int64_t groups = op.getGroupSize();
  AroundAxis a = around(op.getX().getType(), op.getAxis());
  int64_t outer = a.outer, inner = a.inner, block = a.n / groups;
  // [outer, G, block * inner] -> [G, outer, block * inner]: block p of every
  // outer row goes to rank p.
  Value rows = g.pb.reshape(op.getX(), {outer, groups, block * inner});
  Value blocks = g.pb.reshape(g.transpose(rows, {1, 0, 2}),
                              {groups, outer * block * inner});
  Value mine = g.reduce(g.exchange(blocks, groups), "sum");
  Value out = g.pb.reshape(mine, op.getResult().getType().getShape());
  op.replaceAllUsesWith(out);
  op.erase();
}

void expandAllGather(AllGatherOp op) {
  AroundAxis a = around(op.getX().getType(), op.getAxis());
  if (a.outer == 1)
    return; // already rank-major in memory
  Builder g(op);
  int64_t groups = op.getGroupSize(), outer = a.outer, n = a.n,
          inner = a.inner;
  Value flat = g.pb.reshape(op.getX(), {1, outer * n * inner});
  Value gathered = g.pb.op<AllGatherOp>(
      flat, {g.i64("axis", 0), g.i64("group_size", groups)});
  Value split = g.pb.reshape(gathered, {groups, outer, n * inner});
  Value out = g.pb.reshape(g.transpose(split, {1, 0, 2}),
                           op.getResult().getType().getShape());
  op.replaceAllUsesWith(out);
  op.erase();
}

struct ExpandCollectivesPass
    : impl::ExpandCollectivesBase<ExpandCollectivesPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (llvm::isa<AllReduceOp, ReduceScatterOp, AllGatherOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto r = llvm::dyn_cast<AllReduceOp>(op))
        expandAllReduce(r);
      else if (auto s = llvm::dyn_cast<ReduceScatterOp>(op))
        expandReduceScatter(s);
      else
        expandAllGather(llvm::cast<AllGatherOp>(op));
    }
  }
};

} // namespace
} // namespace kiln::passes
