//===- Scalars.h - scalar arithmetic shared by the ptx kernels --*- C++ -*-===//
//
// Element-type conversions with the CPU executor's rounding, constants, and the
// Philox counter-based generator, as arith/math ops inside a kernel body.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_SCALARS_H
#define KILN_CODEGEN_PTX_SCALARS_H

#include "mlir/IR/Builders.h"

namespace kiln::codegen::ptx {

bool isFloat(mlir::Type t);
bool isF8(mlir::Type t);

/// f64 computes in f64, other floats in f32, integers in their own type.
mlir::Type computeType(mlir::OpBuilder &b, mlir::Type element);

/// `v` converted to `to` as the CPU executor converts: round-to-nearest-even
/// between floats, fp8 saturating, float -> int truncating, != 0 for i1.
mlir::Value convert(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v, mlir::Type to);

mlir::Value floatConst(mlir::OpBuilder &b, mlir::Location loc, mlir::Type t, double v);

/// 1 / (1 + exp(-x)) and x * sigmoid(x) in x's float type: the one formula
/// the elementwise kernels and GEMM epilogues (SwiGLU) share.
mlir::Value sigmoid(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);
mlir::Value silu(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x);

/// Philox4x32-10 exactly as executor/cpu/Philox.h: counter = (flat lo, flat hi,
/// 0, 0) for an i64 `flat`, key = (lo, hi) of the i64 `key`. The four words.
llvm::SmallVector<mlir::Value> philox(mlir::OpBuilder &nb, mlir::Location l, mlir::Value flat,
                                      mlir::Value key);

/// (word >> 8) * 2^-24 (+ one 2^-24 step when `plusOne`) as f64.
mlir::Value unitFromWord(mlir::OpBuilder &nb, mlir::Location l, mlir::Value word, bool plusOne);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_SCALARS_H
