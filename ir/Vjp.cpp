//===- Vjp.cpp - helpers shared by the gradient rules ----------------------===//

#include "ir/Vjp.h"

#include "mlir/IR/BuiltinAttributes.h"

using namespace mlir;

namespace kiln::ir {

Value unbroadcast(PrimitiveBuilder &pb, Value grad, RankedTensorType target) {
  auto gradType = PrimitiveBuilder::typeOf(grad);
  if (gradType.getShape() == target.getShape())
    return grad;
  int64_t rank = gradType.getRank(), lead = rank - target.getRank();
  SmallVector<int64_t> axes;
  for (int64_t i = 0; i < rank; ++i)
    if (i < lead || (target.getDimSize(i - lead) == 1 && gradType.getDimSize(i) != 1))
      axes.push_back(i);
  OpBuilder &b = pb.builder();
  Value summed = pb.op<SumOp>(grad, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
                                     b.getNamedAttr("keepdims", b.getBoolAttr(true))});
  return pb.reshape(summed, target.getShape());
}

Value zerosLike(PrimitiveBuilder &pb, RankedTensorType type) {
  OpBuilder &b = pb.builder();
  Attribute zero = llvm::isa<FloatType>(type.getElementType())
                       ? Attribute(b.getFloatAttr(type.getElementType(), 0.0))
                       : Attribute(b.getIntegerAttr(type.getElementType(), 0));
  return b.create<ConstantOp>(pb.location(), type, DenseElementsAttr::get(type, zero));
}

bool isFloatTensor(Value v) {
  return llvm::isa<FloatType>(PrimitiveBuilder::typeOf(v).getElementType());
}

} // namespace kiln::ir
