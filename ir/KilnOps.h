//===- KilnOps.h - kiln dialect operations ----------------------*- C++ -*-===//
//
// The generated op classes of the kiln dialect (KilnOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNOPS_H
#define KILN_IR_KILNOPS_H

#include "ir/KilnDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ir/KilnEnums.h.inc"
#define GET_ATTRDEF_CLASSES
#include "ir/KilnAttrs.h.inc"

#define GET_OP_CLASSES
#include "ir/KilnOps.h.inc"

#endif // KILN_IR_KILNOPS_H
