//===- KilnDialect.cpp - kiln dialect registration -------------------------===//
//
// Registers the kiln ops and lets the dialect materialise folded constants.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnDialect.h"
#include "ir/KilnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

#include "ir/KilnDialect.cpp.inc"
#include "ir/KilnEnums.cpp.inc"
#include "ir/KilnInterfaces.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "ir/KilnAttrs.cpp.inc"

namespace kiln::ir {

void KilnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ir/KilnAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ir/KilnOps.cpp.inc"
      >();
}

Operation *KilnDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                            Type type, Location loc) {
  auto elements = llvm::dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return builder.create<ConstantOp>(loc, type, elements);
}

bool isKilnElementType(Type type) {
  if (type.isF64() || type.isF32() || type.isF16() || type.isBF16() ||
      type.isFloat8E4M3FN() || type.isFloat8E5M2())
    return true;
  if (auto integer = llvm::dyn_cast<IntegerType>(type))
    return integer.isSignless() &&
           llvm::is_contained({1u, 4u, 8u, 32u, 64u}, integer.getWidth());
  return false;
}

} // namespace kiln::ir
