//===- VjpReduce.cpp - gradients of reductions and selection --------------===//
//
// Vector-Jacobian products of the reductions (sum, mean, max, min, logsumexp),
// cumsum, softmax, log_softmax, rms_norm, and of topk and sort.
//
//===----------------------------------------------------------------------===//

#include "ir/ShapeUtils.h"
#include "ir/Vjp.h"

#include "llvm/ADT/SmallSet.h"

using namespace mlir;

namespace kiln::ir {

Value restoreReducedDims(PrimitiveBuilder &pb, Value grad,
                         RankedTensorType input, ArrayRef<int64_t> axes) {
  SmallVector<int64_t> keptShape(input.getShape());
  for (int64_t a : axes)
    keptShape[a < 0 ? a + input.getRank() : a] = 1;
  return pb.reshape(grad, keptShape);
}

namespace {

/// Sum over `axes`, keeping them as size 1 so the result broadcasts back.
Value sumKeepAxes(PrimitiveBuilder &pb, Value x, ArrayRef<int64_t> axes) {
  OpBuilder &b = pb.builder();
  return pb.op<SumOp>(x, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
                          b.getNamedAttr("keepdims", b.getBoolAttr(true))});
}

Value broadcastTo(PrimitiveBuilder &pb, Value x, ArrayRef<int64_t> shape) {
  if (PrimitiveBuilder::shapeOf(x) == shape)
    return x;
  OpBuilder &b = pb.builder();
  return pb.op<BroadcastToOp>(
      x, {b.getNamedAttr("shape", b.getDenseI64ArrayAttr(shape))});
}

/// Scatters `updates` into zeros of `target` at `indices` along `axis`, where
/// indices and updates are shaped like a take_along_axis (the transpose of
/// that gather). scatter_add indexes one axis with its whole index tensor, so
/// both sides are flattened and each index becomes a flat offset.
Value scatterAlongAxis(PrimitiveBuilder &pb, RankedTensorType target,
                       Value indices, Value updates, int64_t axis) {
  OpBuilder &b = pb.builder();
  Type i64 = b.getI64Type();
  ArrayRef<int64_t> indexShape = PrimitiveBuilder::shapeOf(indices);
  int64_t rank = target.getRank();
  SmallVector<int64_t> strides(rank, 1);
  for (int64_t d = rank - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * target.getDimSize(d + 1);
  auto scaled = [&](Value v, int64_t stride) {
    return stride == 1 ? v : pb.op<MulOp>({v, pb.scalarInt(i64, stride)});
  };
  Value flat = scaled(pb.cast(indices, i64), strides[axis]);
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis || indexShape[d] == 1)
      continue;
    SmallVector<int64_t> coordShape(rank, 1);
    coordShape[d] = indexShape[d];
    flat =
        pb.op<AddOp>({flat, scaled(pb.iota(coordShape, d, i64), strides[d])});
  }
  int64_t count = PrimitiveBuilder::typeOf(indices).getNumElements();
  Value base = zerosLike(pb, RankedTensorType::get({target.getNumElements()},
                                                   target.getElementType()));
  Value sum = pb.op<ScatterAddOp>(
      {base, pb.reshape(flat, {count}), pb.reshape(updates, {count})},
      {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
  return pb.reshape(sum, target.getShape());
}

/// max and min: the gradient goes to every position equal to the result, shared
/// equally among ties (as JAX does). A NaN result matches nothing, so its
/// slice gets 0.
template <typename OpT>
LogicalResult extremumVjp(OpT op, OpBuilder &builder,
                          ArrayRef<Value> resultGrads,
                          SmallVectorImpl<Value> &operandGrads) {
  if (!isFloatTensor(op.getX())) {
    operandGrads.push_back({});
    return success();
  }
  PrimitiveBuilder pb(builder, op.getLoc());
  RankedTensorType input = op.getX().getType();
  ArrayRef<int64_t> axes = op.getAxes();
  Value hit = pb.op<EqualOp>(
      {op.getX(), restoreReducedDims(pb, op.getResult(), input, axes)});
  Value count = sumKeepAxes(pb, pb.cast(hit, input.getElementType()), axes);
  Value share = pb.op<DivOp>(
      {restoreReducedDims(pb, resultGrads[0], input, axes), count});
  operandGrads.push_back(
      pb.select(hit, share, pb.scalar(input.getElementType(), 0.0)));
  return success();
}

/// Whether a float type is computed through f32 (so a rule recomputes from x
/// rather than trusting a result rounded to it).
bool isNarrow(PrimitiveBuilder &pb, Type element) {
  return pb.computeType(element) != element;
}

} // namespace

KILN_VJP(SumOp) {
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType input = getX().getType();
  Value kept = restoreReducedDims(pb, resultGrads[0], input, getAxes());
  operandGrads.push_back(broadcastTo(pb, kept, input.getShape()));
  return success();
}

KILN_VJP(MeanOp) {
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType input = getX().getType();
  int64_t count = 1;
  llvm::SmallSet<int64_t, 4> seen;
  for (int64_t a : getAxes())
    if (seen.insert(normalizeAxis(a, input.getRank())).second)
      count *= input.getDimSize(normalizeAxis(a, input.getRank()));
  Value kept = restoreReducedDims(pb, resultGrads[0], input, getAxes());
  // Divide rather than multiply by 1/count: one rounding, exact for f32 sizes.
  Value share = pb.op<DivOp>(
      {kept, pb.scalar(input.getElementType(), static_cast<double>(count))});
  operandGrads.push_back(broadcastTo(pb, share, input.getShape()));
  return success();
}

KILN_VJP(MaxOp) {
  return extremumVjp(*this, builder, resultGrads, operandGrads);
}
KILN_VJP(MinOp) {
  return extremumVjp(*this, builder, resultGrads, operandGrads);
}

KILN_VJP(LogSumExpOp) {
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType input = getX().getType();
  Type element = input.getElementType(), compute = pb.computeType(element);
  ArrayRef<int64_t> axes = getAxes();
  Value x = pb.cast(getX(), compute);
  Value lse;
  if (isNarrow(pb, element)) {
    lse = pb.op<LogSumExpOp>(
        x, {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(axes)),
            builder.getNamedAttr("keepdims", builder.getBoolAttr(true))});
  } else {
    lse = restoreReducedDims(pb, getResult(), input, axes);
  }
  // An all -inf slice has lse = -inf and x - lse = NaN; shifting it by 0 makes
  // every weight exp(-inf) = 0 instead.
  Value empty = pb.op<EqualOp>({lse, pb.negInf(compute)});
  Value shift = pb.select(empty, pb.scalar(compute, 0.0), lse);
  Value weights = pb.op<ExpOp>(pb.op<SubOp>({x, shift}));
  Value g =
      pb.cast(restoreReducedDims(pb, resultGrads[0], input, axes), compute);
  operandGrads.push_back(pb.cast(pb.op<MulOp>({weights, g}), element));
  return success();
}

KILN_VJP(CumsumOp) {
  if (!isFloatTensor(getX())) {
    operandGrads.push_back({});
    return success();
  }
  // x[j] reaches every output that sums it: those after j (before j when the
  // forward runs in reverse), and j itself unless exclusive.
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(pb.op<CumsumOp>(
      resultGrads[0],
      {builder.getNamedAttr("axis", getAxisAttr()),
       builder.getNamedAttr("exclusive", getExclusiveAttr()),
       builder.getNamedAttr("reverse", builder.getBoolAttr(!getReverse()))}));
  return success();
}

KILN_VJP(SoftmaxOp) {
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType input = getX().getType();
  Type element = input.getElementType(), compute = pb.computeType(element);
  int64_t axis = normalizeAxis(getAxisAttr().getInt(), input.getRank());
  Value y =
      isNarrow(pb, element)
          ? pb.op<SoftmaxOp>(pb.cast(getX(), compute),
                             {builder.getNamedAttr("axis", getAxisAttr())})
          : getResult();
  Value g = pb.cast(resultGrads[0], compute);
  Value dot = pb.sumKeep(pb.op<MulOp>({g, y}), axis);
  Value dx = pb.op<MulOp>({y, pb.op<SubOp>({g, dot})});
  operandGrads.push_back(pb.cast(dx, element));
  return success();
}

KILN_VJP(LogSoftmaxOp) {
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType input = getX().getType();
  Type element = input.getElementType(), compute = pb.computeType(element);
  int64_t axis = normalizeAxis(getAxisAttr().getInt(), input.getRank());
  Value probs =
      isNarrow(pb, element)
          ? pb.op<SoftmaxOp>(pb.cast(getX(), compute),
                             {builder.getNamedAttr("axis", getAxisAttr())})
          : pb.op<ExpOp>(getResult());
  Value g = pb.cast(resultGrads[0], compute);
  Value dx = pb.op<SubOp>({g, pb.op<MulOp>({probs, pb.sumKeep(g, axis)})});
  operandGrads.push_back(pb.cast(dx, element));
  return success();
}

KILN_VJP(RmsNormOp) {
  // With r = rsqrt(mean(x^2) + eps), n = x r and y = w n:
  //   dw = sum over rows of g n,  dx = r (g w - n mean(g w n)).
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType type = getX().getType();
  Type element = type.getElementType(), compute = pb.computeType(element);
  int64_t last = type.getRank() - 1;
  Value x = pb.cast(getX(), compute);
  Value weight = pb.cast(getWeight(), compute);
  Value g = pb.cast(resultGrads[0], compute);
  Value meanSquare = pb.meanKeep(pb.op<MulOp>({x, x}), last);
  Value eps = pb.scalar(compute, getEpsAttr().getValueAsDouble());
  Value inverse = pb.op<RsqrtOp>(pb.op<AddOp>({meanSquare, eps}));
  Value normed = pb.op<MulOp>({x, inverse});
  Value dn = pb.op<MulOp>({g, weight});
  Value proj = pb.meanKeep(pb.op<MulOp>({dn, normed}), last);
  Value dx =
      pb.op<MulOp>({inverse, pb.op<SubOp>({dn, pb.op<MulOp>({normed, proj})})});
  Value dw = unbroadcast(pb, pb.op<MulOp>({g, normed}), getWeight().getType());
  operandGrads.push_back(pb.cast(dx, element));
  operandGrads.push_back(pb.cast(dw, element));
  return success();
}

KILN_VJP(TopkOp) {
  // Each selected value came from x at its index; the rest of x gets 0. The
  // indices result is integer and carries no gradient.
  Value g = resultGrads[0];
  if (!g || !isFloatTensor(getX())) {
    operandGrads.push_back({});
    return success();
  }
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType type = getX().getType();
  operandGrads.push_back(
      scatterAlongAxis(pb, type, getIndices(), g, type.getRank() - 1));
  return success();
}

KILN_VJP(SortOp) {
  if (!isFloatTensor(getX())) {
    operandGrads.push_back({});
    return success();
  }
  // The stable argsort with the same direction is the permutation the forward
  // applied (same tie and NaN order), so each gradient goes back to its source.
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType type = getX().getType();
  Value perm = pb.op<ArgsortOp>(
      getX(), {builder.getNamedAttr("axis", getAxisAttr()),
               builder.getNamedAttr("descending", getDescendingAttr())});
  operandGrads.push_back(
      scatterAlongAxis(pb, type, perm, resultGrads[0],
                       normalizeAxis(getAxisAttr().getInt(), type.getRank())));
  return success();
}

} // namespace kiln::ir
