//===- PrimitiveBuilder.h - emit kiln primitives with inferred types -*- C++
//-*-===//
//
// A thin layer over a rewriter that emits kiln primitives by name, so
// decompositions read like the formulas in docs/OPS.md and never spell a result
// type by hand.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_PRIMITIVEBUILDER_H
#define KILN_IR_PRIMITIVEBUILDER_H

#include "ir/KilnOps.h"

#include "mlir/IR/Builders.h"

namespace kiln::ir {

class PrimitiveBuilder {
public:
  PrimitiveBuilder(mlir::OpBuilder &builder, mlir::Location loc)
      : b(builder), loc(loc) {}

  /// Any single-result kiln op whose result type is inferred from its operands
  /// and attributes; inference checks the operands exactly as the verifier
  /// will.
  template <typename OpT>
  mlir::Value op(mlir::ValueRange operands,
                 llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    return b.create<OpT>(loc, operands, attrs)->getResult(0);
  }

  static mlir::RankedTensorType typeOf(mlir::Value v) {
    return llvm::cast<mlir::RankedTensorType>(v.getType());
  }
  static llvm::ArrayRef<int64_t> shapeOf(mlir::Value v) {
    return typeOf(v).getShape();
  }

  /// The type a float composite computes in: f64 stays f64, everything else is
  /// f32.
  mlir::Type computeType(mlir::Type element) const;

  /// Rank-0 constants; they broadcast against any operand.
  mlir::Value scalar(mlir::Type element, double value);
  mlir::Value scalarInt(mlir::Type element, int64_t value);
  mlir::Value negInf(mlir::Type element);

  mlir::Value cast(mlir::Value x, mlir::Type element); // no-op when equal
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape);
  mlir::Value slice(mlir::Value x, int64_t axis, int64_t start, int64_t limit);
  mlir::Value concat(mlir::ValueRange inputs, int64_t axis);
  mlir::Value iota(llvm::ArrayRef<int64_t> shape, int64_t dimension,
                   mlir::Type element);

  /// Reductions over one axis, keeping it as size 1.
  mlir::Value sumKeep(mlir::Value x, int64_t axis);
  mlir::Value meanKeep(mlir::Value x, int64_t axis);
  mlir::Value maxKeep(mlir::Value x, int64_t axis);

  mlir::Value matmul(mlir::Value a, mlir::Value b, bool transposeB);
  mlir::Value matmul(mlir::Value a, mlir::Value b, bool transposeA,
                     bool transposeB);
  mlir::Value select(mlir::Value cond, mlir::Value a, mlir::Value b);

  mlir::OpBuilder &builder() { return b; }
  mlir::Location location() const { return loc; }

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace kiln::ir

#endif // KILN_IR_PRIMITIVEBUILDER_H
