//===- KilnDialect.h - the kiln dialect -------------------------*- C++ -*-===//
//
// Declares the kiln dialect and its marker traits. Include KilnOps.h for the
// ops.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_KILNDIALECT_H
#define KILN_IR_KILNDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"

namespace kiln::ir {

/// Operands broadcast numpy-style to the result shape.
template <typename ConcreteType>
class KilnBroadcasting
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnBroadcasting> {};

/// Each result element depends only on the operand elements at its index.
template <typename ConcreteType>
class KilnElementwise
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnElementwise> {};

/// Each result element is one operand element at an index computed from its
/// own: transpose, slice, concat.
template <typename ConcreteType>
class KilnIndexRemap
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnIndexRemap> {};

/// Reduces its `axes` attribute, honouring `keepdims`.
template <typename ConcreteType>
class KilnReduction
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnReduction> {};

/// Has a decomposition into primitives (passes/Decompose.cpp).
template <typename ConcreteType>
class KilnComposite
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnComposite> {};

/// Has no gradient (integer results, piecewise constant, random).
template <typename ConcreteType>
class KilnNoGradient
    : public mlir::OpTrait::TraitBase<ConcreteType, KilnNoGradient> {};

/// True for the element types kiln tensors may hold.
bool isKilnElementType(mlir::Type type);

} // namespace kiln::ir

#include "ir/KilnDialect.h.inc"
#include "ir/KilnInterfaces.h.inc"

#endif // KILN_IR_KILNDIALECT_H
