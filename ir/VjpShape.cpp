//===- VjpShape.cpp - gradients of the shape and indexing kiln ops
//---------===//
//
// Vector-Jacobian products of reshape, transpose, broadcast_to, slice,
// dynamic_update_slice, concat, gather, take_along_axis and scatter_add.
// Integer operands (indices, starts) get no gradient.
//
//===----------------------------------------------------------------------===//

#include "ir/ShapeUtils.h"
#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

namespace {

/// Zeros of `like`'s element type and `shape`.
Value zerosOf(PrimitiveBuilder &pb, Value like, ArrayRef<int64_t> shape) {
  return zerosLike(pb,
                   RankedTensorType::get(
                       shape, PrimitiveBuilder::typeOf(like).getElementType()));
}

/// `x` with `before` zeros in front and `after` zeros behind along `axis`.
Value padZeros(PrimitiveBuilder &pb, Value x, int64_t axis, int64_t before,
               int64_t after) {
  SmallVector<Value> parts;
  SmallVector<int64_t> shape(PrimitiveBuilder::shapeOf(x));
  if (before > 0) {
    shape[axis] = before;
    parts.push_back(zerosOf(pb, x, shape));
  }
  parts.push_back(x);
  if (after > 0) {
    shape[axis] = after;
    parts.push_back(zerosOf(pb, x, shape));
  }
  return parts.size() == 1 ? x : pb.concat(parts, axis);
}

/// Integer indices as i64, so bounds such as a dimension size always fit
/// (an i8 or i4 index type cannot hold them).
Value asI64(PrimitiveBuilder &pb, Value indices) {
  return pb.cast(indices, pb.builder().getI64Type());
}

/// i64 indices clamped into [0, size - 1], as gather and take_along_axis read
/// them: scatter_add drops out-of-range indices instead, so a gradient built
/// with scatter_add must clamp first to land where the forward read.
Value clampIndices(PrimitiveBuilder &pb, Value indices, int64_t size) {
  Type i64 = pb.builder().getI64Type();
  Value lo =
      pb.op<MaximumOp>(ValueRange{asI64(pb, indices), pb.scalarInt(i64, 0)});
  return pb.op<MinimumOp>(ValueRange{lo, pb.scalarInt(i64, size - 1)});
}

} // namespace

KILN_VJP(ReshapeOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(
      isFloatTensor(getX())
          ? pb.reshape(resultGrads[0], getX().getType().getShape())
          : Value());
  return success();
}

KILN_VJP(TransposeOp) {
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getX())) {
    operandGrads.push_back(Value());
    return success();
  }
  ArrayRef<int64_t> perm = getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  operandGrads.push_back(pb.op<TransposeOp>(
      resultGrads[0],
      {builder.getNamedAttr("perm", builder.getDenseI64ArrayAttr(inverse))}));
  return success();
}

KILN_VJP(BroadcastToOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(isFloatTensor(getX())
                             ? unbroadcast(pb, resultGrads[0], getX().getType())
                             : Value());
  return success();
}

KILN_VJP(SliceOp) {
  // Scatter the window back into zeros one dimension at a time. A stride s
  // interleaves s - 1 zeros after each element (concat with zeros along a new
  // axis of size s, then merge it), which spans n * s elements from start;
  // trim that to the dimension and pad the rest with zeros.
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getX())) {
    operandGrads.push_back(Value());
    return success();
  }
  Value g = resultGrads[0];
  ArrayRef<int64_t> xShape = getX().getType().getShape();
  ArrayRef<int64_t> start = getStart(), stride = getStride();
  for (int64_t d = 0, rank = xShape.size(); d < rank; ++d) {
    int64_t dim = xShape[d];
    SmallVector<int64_t> shape(PrimitiveBuilder::shapeOf(g));
    int64_t n = shape[d];
    if (n == dim)
      continue; // the whole dimension (start 0, stride 1 or a size-1 dimension)
    int64_t span = n;
    if (stride[d] > 1 && n > 1) {
      SmallVector<int64_t> split(shape.begin(), shape.begin() + d + 1);
      split.push_back(1);
      split.append(shape.begin() + d + 1, shape.end());
      Value expanded = pb.reshape(g, split);
      split[d + 1] = stride[d] - 1;
      Value spread = pb.concat({expanded, zerosOf(pb, g, split)}, d + 1);
      span = std::min(n * stride[d], dim - start[d]);
      shape[d] = n * stride[d];
      g = pb.reshape(spread, shape);
      if (span < shape[d])
        g = pb.slice(g, d, 0, span);
    }
    g = padZeros(pb, g, d, start[d], dim - start[d] - span);
  }
  operandGrads.push_back(g);
  return success();
}

KILN_VJP(DynamicUpdateSliceOp) {
  // x: the cotangent with the overwritten window zeroed, written by the same
  // (identically clamped) dynamic_update_slice. update: that window of the
  // cotangent, read one dimension at a time with gather at iota + start, the
  // start clamped as the forward clamps it.
  PrimitiveBuilder pb(builder, getLoc());
  Value g = resultGrads[0], update = getUpdate(), start = getStart();
  if (!isFloatTensor(getX())) {
    operandGrads.append(3, Value());
    return success();
  }
  auto updateType = PrimitiveBuilder::typeOf(update);
  operandGrads.push_back(pb.op<DynamicUpdateSliceOp>(
      ValueRange{g, zerosLike(pb, updateType), start}));

  Type indexType = builder.getI64Type();
  ArrayRef<int64_t> xShape = getX().getType().getShape();
  Value window = g;
  for (int64_t d = 0, rank = xShape.size(); d < rank; ++d) {
    int64_t size = updateType.getDimSize(d);
    if (size == xShape[d])
      continue; // the start clamps to 0: the whole dimension
    Value s = asI64(pb, pb.reshape(pb.slice(start, 0, d, d + 1), {}));
    s = pb.op<MaximumOp>(ValueRange{s, pb.scalarInt(indexType, 0)});
    s = pb.op<MinimumOp>(
        ValueRange{s, pb.scalarInt(indexType, xShape[d] - size)});
    Value indices = pb.op<AddOp>(ValueRange{pb.iota({size}, 0, indexType), s});
    window = pb.op<GatherOp>(
        ValueRange{window, indices},
        {builder.getNamedAttr("axis", builder.getI64IntegerAttr(d))});
  }
  operandGrads.push_back(window);
  operandGrads.push_back(Value());
  return success();
}

KILN_VJP(ConcatOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value g = resultGrads[0];
  int64_t axis =
      normalizeAxis(getAxis(), PrimitiveBuilder::typeOf(g).getRank());
  int64_t offset = 0;
  for (Value input : getInputs()) {
    int64_t size = PrimitiveBuilder::shapeOf(input)[axis];
    operandGrads.push_back(isFloatTensor(input)
                               ? pb.slice(g, axis, offset, offset + size)
                               : Value());
    offset += size;
  }
  return success();
}

KILN_VJP(GatherOp) {
  // The transpose of gather is scatter_add into zeros at the clamped indices;
  // repeated indices accumulate.
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType xType = getX().getType();
  if (!isFloatTensor(getX())) {
    operandGrads.append(2, Value());
    return success();
  }
  int64_t axis = normalizeAxis(getAxis(), xType.getRank());
  Value indices = clampIndices(pb, getIndices(), xType.getDimSize(axis));
  operandGrads.push_back(pb.op<ScatterAddOp>(
      ValueRange{zerosLike(pb, xType), indices, resultGrads[0]},
      {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis))}));
  operandGrads.push_back(Value());
  return success();
}

Value takeAlongAxisGrad(PrimitiveBuilder &pb, RankedTensorType xType,
                        Value indices, int64_t axis, Value grad) {
  // Each cotangent element goes to x at its own coordinates with the axis
  // coordinate replaced by the (clamped) index. Flattening x and computing
  // those row-major offsets turns this into one scatter_add on a vector, with
  // memory linear in the indices (a one_hot would take indices x axis size).
  int64_t rank = xType.getRank();
  axis = normalizeAxis(axis, rank);
  Type i64 = pb.builder().getI64Type();
  ArrayRef<int64_t> idxShape = PrimitiveBuilder::shapeOf(indices);
  Value flat = clampIndices(pb, indices, xType.getDimSize(axis));
  int64_t stride = 1;
  SmallVector<int64_t> strides(rank);
  for (int64_t d = rank - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= xType.getDimSize(d);
  }
  if (strides[axis] != 1)
    flat = pb.op<MulOp>(ValueRange{flat, pb.scalarInt(i64, strides[axis])});
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis || idxShape[d] == 1)
      continue; // a size-1 dimension has coordinate 0
    Value coord = pb.iota(idxShape, d, i64);
    if (strides[d] != 1)
      coord = pb.op<MulOp>(ValueRange{coord, pb.scalarInt(i64, strides[d])});
    flat = pb.op<AddOp>(ValueRange{flat, coord});
  }
  int64_t count = 1;
  for (int64_t d : idxShape)
    count *= d;
  Value sums = pb.op<ScatterAddOp>(
      ValueRange{zerosLike(pb, RankedTensorType::get({xType.getNumElements()},
                                                     xType.getElementType())),
                 pb.reshape(flat, {count}), pb.reshape(grad, {count})},
      {pb.builder().getNamedAttr("axis", pb.builder().getI64IntegerAttr(0))});
  return pb.reshape(sums, xType.getShape());
}

KILN_VJP(TakeAlongAxisOp) {
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getX())) {
    operandGrads.append(2, Value());
    return success();
  }
  operandGrads.push_back(takeAlongAxisGrad(pb, getX().getType(), getIndices(),
                                           getAxis(), resultGrads[0]));
  operandGrads.push_back(Value());
  return success();
}

KILN_VJP(PutAlongAxisOp) {
  // x: the cotangent with the written slots zeroed, by the same put. values:
  // the cotangent at each entry's slot, where that entry is what the forward
  // left there: in range, and not overwritten by a later entry of its fiber
  // (found by putting each entry's position along the axis and reading back
  // which one stayed).
  PrimitiveBuilder pb(builder, getLoc());
  Value g = resultGrads[0];
  if (!isFloatTensor(getX())) {
    operandGrads.append(3, Value());
    return success();
  }
  RankedTensorType xType = getX().getType();
  int64_t rank = xType.getRank();
  int64_t axis = normalizeAxis(getAxis(), rank);
  auto valuesType = PrimitiveBuilder::typeOf(getValues());
  ArrayRef<int64_t> shape = valuesType.getShape();
  NamedAttribute axisAttr =
      builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis));
  Type i64 = builder.getI64Type();
  operandGrads.push_back(pb.op<PutAlongAxisOp>(
      ValueRange{g, getIndices(), zerosLike(pb, valuesType)}, {axisAttr}));
  operandGrads.push_back(Value());

  Value wide = asI64(pb, getIndices());
  if (PrimitiveBuilder::shapeOf(wide) != shape)
    wide = pb.op<BroadcastToOp>(
        ValueRange{wide},
        {builder.getNamedAttr("shape", builder.getDenseI64ArrayAttr(shape))});
  Value position = pb.iota(shape, axis, i64);
  Value none = pb.op<AddOp>(
      ValueRange{zerosLike(pb, RankedTensorType::get(xType.getShape(), i64)),
                 pb.scalarInt(i64, -1)});
  Value stayed =
      pb.op<PutAlongAxisOp>(ValueRange{none, wide, position}, {axisAttr});
  Value kept = pb.op<EqualOp>(ValueRange{
      pb.op<TakeAlongAxisOp>(ValueRange{stayed, wide}, {axisAttr}), position});
  Value inRange = pb.op<LogicalAndOp>(
      ValueRange{pb.op<GreaterEqualOp>(ValueRange{wide, pb.scalarInt(i64, 0)}),
                 pb.op<LessOp>(ValueRange{
                     wide, pb.scalarInt(i64, xType.getDimSize(axis))})});
  operandGrads.push_back(
      pb.select(pb.op<LogicalAndOp>(ValueRange{kept, inRange}),
                pb.op<TakeAlongAxisOp>(ValueRange{g, wide}, {axisAttr}),
                zerosLike(pb, valuesType)));
  return success();
}

KILN_VJP(ScatterAddOp) {
  // x passes the cotangent through. updates[j] landed at indices[j] unless that
  // index was out of range and dropped, so it reads the cotangent there with
  // gather (which clamps) and zeroes the dropped positions.
  PrimitiveBuilder pb(builder, getLoc());
  Value g = resultGrads[0], indices = getIndices();
  RankedTensorType xType = getX().getType();
  if (!isFloatTensor(getX())) {
    operandGrads.append(3, Value());
    return success();
  }
  int64_t rank = xType.getRank();
  int64_t axis = normalizeAxis(getAxis(), rank);
  operandGrads.push_back(g);
  operandGrads.push_back(Value());

  Value gathered = pb.op<GatherOp>(
      ValueRange{g, indices},
      {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis))});
  Type i64 = builder.getI64Type();
  Value wide = asI64(pb, indices);
  Value inRange = pb.op<LogicalAndOp>(
      ValueRange{pb.op<GreaterEqualOp>(ValueRange{wide, pb.scalarInt(i64, 0)}),
                 pb.op<LessOp>(ValueRange{
                     wide, pb.scalarInt(i64, xType.getDimSize(axis))})});
  // Line the mask up with the indices' dimensions of the gathered value.
  SmallVector<int64_t> maskShape(axis, 1);
  llvm::append_range(maskShape, PrimitiveBuilder::shapeOf(indices));
  maskShape.append(rank - axis - 1, 1);
  Value mask = pb.reshape(inRange, maskShape);
  operandGrads.push_back(pb.select(mask, gathered, zerosOf(pb, g, {})));
  return success();
}

} // namespace kiln::ir
