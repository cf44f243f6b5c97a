//===- Quantization.cpp - facts about block-scaled types ------------------===//

#include "ir/Quantization.h"

using namespace mlir;

namespace kiln::ir {

std::optional<double> quantizedMax(Type element) {
  if (element.isFloat8E4M3FN())
    return 448.0;
  if (element.isFloat8E5M2())
    return 57344.0;
  if (element.isInteger(8))
    return 127.0;
  if (element.isInteger(4))
    return 7.0;
  return std::nullopt;
}

bool isDequantizedType(Type element) {
  return element.isF32() || element.isBF16() || element.isF16();
}

SmallVector<int64_t> blockScaleShape(ArrayRef<int64_t> shape,
                                     ArrayRef<int64_t> block) {
  SmallVector<int64_t> out;
  for (auto [d, b] : llvm::zip(shape, block))
    out.push_back(b > 0 ? (d + b - 1) / b : 0);
  return out;
}

Value expandBlockScale(PrimitiveBuilder &pb, Value scale,
                       ArrayRef<int64_t> shape, ArrayRef<int64_t> block) {
  SmallVector<int64_t> split, stretched, whole;
  SmallVector<int64_t> scaleShape = blockScaleShape(shape, block);
  for (auto [s, d, b] : llvm::zip(scaleShape, shape, block)) {
    int64_t size = blockExtent(b, d);
    split.append({s, 1});
    stretched.append({s, size});
    whole.push_back(s * size);
  }
  OpBuilder &b = pb.builder();
  Value v = pb.reshape(scale, split);
  if (split != stretched)
    v = pb.op<BroadcastToOp>(
        {v}, {b.getNamedAttr("shape", b.getDenseI64ArrayAttr(stretched))});
  v = pb.reshape(v, whole);
  for (auto [axis, d] : llvm::enumerate(shape))
    if (PrimitiveBuilder::shapeOf(v)[axis] != d)
      v = pb.slice(v, axis, 0, d);
  return v;
}

RankedTensorType cotangentType(RankedTensorType type) {
  Type element = type.getElementType();
  if (element.isFloat8E4M3FN() || element.isFloat8E5M2())
    return type.clone(Float32Type::get(type.getContext()));
  return type;
}

} // namespace kiln::ir
