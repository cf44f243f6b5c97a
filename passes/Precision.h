//===- Precision.h - the kiln.precision choice on a GEMM --------*- C++ -*-===//
//
// kiln-assign-precision records its choice for a matmul as the attribute
// `kiln.precision = {dtype = <narrow type>, block = <i64>, weight = "<name>"}`;
// kiln-grad copies it onto the matmuls of that matmul's gradient, and
// kiln-lower-precision turns each tagged matmul into quantize and
// scaled_matmul ops.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PRECISION_H
#define KILN_PASSES_PRECISION_H

#include "llvm/ADT/StringRef.h"

namespace kiln::passes {

inline constexpr llvm::StringLiteral kPrecisionAttr = "kiln.precision";

} // namespace kiln::passes

#endif // KILN_PASSES_PRECISION_H
