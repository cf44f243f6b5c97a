//===- Vjp.h - helpers shared by the gradient rules -------------*- C++ -*-===//
//
// The vector-Jacobian products of kiln ops (ir/Vjp*.cpp) are written with
// these: emitting primitives with inferred types, summing a broadcast gradient
// back to an operand's shape, and zeros.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_VJP_H
#define KILN_IR_VJP_H

#include "ir/KilnOps.h"
#include "ir/PrimitiveBuilder.h"

namespace kiln::ir {

/// Opens the definition of OP's VjpOpInterface::buildVjp in the ir/Vjp*.cpp
/// files (inside namespace kiln::ir, with `using namespace mlir`).
#define KILN_VJP(OP)                                                           \
  ::llvm::LogicalResult OP::buildVjp(                                          \
      ::mlir::OpBuilder &builder, ::llvm::ArrayRef<::mlir::Value> resultGrads, \
      ::llvm::SmallVectorImpl<::mlir::Value> &operandGrads)

/// Sums `grad` (the gradient of a broadcast result) over the dimensions that
/// broadcasting added or stretched, so it has `target`'s shape.
mlir::Value unbroadcast(PrimitiveBuilder &pb, mlir::Value grad,
                        mlir::RankedTensorType target);

/// Reshapes the gradient of a reduction over `axes` of `input` so the reduced
/// dimensions are back as size 1 (ready to broadcast against `input`).
mlir::Value restoreReducedDims(PrimitiveBuilder &pb, mlir::Value grad,
                               mlir::RankedTensorType input,
                               llvm::ArrayRef<int64_t> axes);

/// The gradient of x in take_along_axis(x : `xType`, indices, axis) for the
/// cotangent `grad`: one scatter_add of grad at the (clamped) indices.
mlir::Value takeAlongAxisGrad(PrimitiveBuilder &pb,
                              mlir::RankedTensorType xType, mlir::Value indices,
                              int64_t axis, mlir::Value grad);

/// A tensor of zeros of `type`.
mlir::Value zerosLike(PrimitiveBuilder &pb, mlir::RankedTensorType type);

/// True when `v` holds floats (integer operands carry no gradient).
bool isFloatTensor(mlir::Value v);

} // namespace kiln::ir

#endif // KILN_IR_VJP_H
