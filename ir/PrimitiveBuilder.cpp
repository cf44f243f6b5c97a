//===- PrimitiveBuilder.cpp - emit kiln primitives with inferred types ----===//
//
// Constants, casts and the shape/reduction helpers the decompositions share.
//
//===----------------------------------------------------------------------===//

#include "ir/PrimitiveBuilder.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::ir {

Type PrimitiveBuilder::computeType(Type element) const {
  return element.isF64() ? element : b.getF32Type();
}

Value PrimitiveBuilder::scalar(Type element, double value) {
  auto type = RankedTensorType::get({}, element);
  return b.create<ConstantOp>(
      loc, type, DenseElementsAttr::get(type, b.getFloatAttr(element, value)));
}

Value PrimitiveBuilder::scalarInt(Type element, int64_t value) {
  auto type = RankedTensorType::get({}, element);
  return b.create<ConstantOp>(
      loc, type,
      DenseElementsAttr::get(type, b.getIntegerAttr(element, value)));
}

Value PrimitiveBuilder::negInf(Type element) {
  auto type = RankedTensorType::get({}, element);
  auto inf = APFloat::getInf(llvm::cast<FloatType>(element).getFloatSemantics(),
                             /*Negative=*/true);
  return b.create<ConstantOp>(
      loc, type, DenseElementsAttr::get(type, b.getFloatAttr(element, inf)));
}

Value PrimitiveBuilder::cast(Value x, Type element) {
  if (typeOf(x).getElementType() == element)
    return x;
  return op<CastOp>({x}, {b.getNamedAttr("to", TypeAttr::get(element))});
}

Value PrimitiveBuilder::reshape(Value x, ArrayRef<int64_t> shape) {
  if (shapeOf(x) == shape)
    return x;
  return op<ReshapeOp>(
      {x}, {b.getNamedAttr("shape", b.getDenseI64ArrayAttr(shape))});
}

Value PrimitiveBuilder::slice(Value x, int64_t axis, int64_t start,
                              int64_t limit) {
  SmallVector<int64_t> starts(shapeOf(x).size(), 0), limits(shapeOf(x)),
      strides(shapeOf(x).size(), 1);
  starts[axis] = start;
  limits[axis] = limit;
  return op<SliceOp>(
      {x}, {b.getNamedAttr("start", b.getDenseI64ArrayAttr(starts)),
            b.getNamedAttr("limit", b.getDenseI64ArrayAttr(limits)),
            b.getNamedAttr("stride", b.getDenseI64ArrayAttr(strides))});
}

Value PrimitiveBuilder::concat(ValueRange inputs, int64_t axis) {
  return op<ConcatOp>(inputs,
                      {b.getNamedAttr("axis", b.getI64IntegerAttr(axis))});
}

Value PrimitiveBuilder::iota(ArrayRef<int64_t> shape, int64_t dimension,
                             Type element) {
  return b.create<IotaOp>(loc, RankedTensorType::get(shape, element),
                          b.getI64IntegerAttr(dimension));
}

template <typename OpT>
static Value reduceKeep(PrimitiveBuilder &pb, Value x, int64_t axis) {
  OpBuilder &b = pb.builder();
  return pb.op<OpT>({x},
                    {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({axis})),
                     b.getNamedAttr("keepdims", b.getBoolAttr(true))});
}

Value PrimitiveBuilder::sumKeep(Value x, int64_t axis) {
  return reduceKeep<SumOp>(*this, x, axis);
}
Value PrimitiveBuilder::meanKeep(Value x, int64_t axis) {
  return reduceKeep<MeanOp>(*this, x, axis);
}
Value PrimitiveBuilder::maxKeep(Value x, int64_t axis) {
  return reduceKeep<MaxOp>(*this, x, axis);
}

Value PrimitiveBuilder::matmul(Value a, Value bv, bool transposeB) {
  return matmul(a, bv, /*transposeA=*/false, transposeB);
}

Value PrimitiveBuilder::matmul(Value a, Value bv, bool transposeA,
                               bool transposeB) {
  return op<MatmulOp>(
      {a, bv}, {b.getNamedAttr("transpose_a", b.getBoolAttr(transposeA)),
                b.getNamedAttr("transpose_b", b.getBoolAttr(transposeB))});
}

Value PrimitiveBuilder::select(Value cond, Value a, Value bv) {
  return op<SelectOp>({cond, a, bv});
}

} // namespace kiln::ir
