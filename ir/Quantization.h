//===- Quantization.h - facts about block-scaled types ----------*- C++ -*-===//
//
// The few facts that quantize, dequantize and scaled_matmul share between
// their type inference, gradient rules, decompositions and the precision
// passes: which element types hold quantized values and their largest finite,
// the shape of a block scale, and a scale spread back over its blocks.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_QUANTIZATION_H
#define KILN_IR_QUANTIZATION_H

#include "ir/PrimitiveBuilder.h"

#include <algorithm>
#include <optional>

namespace kiln::ir {

/// The largest finite value of a type quantize writes (f8E4M3FN 448, f8E5M2
/// 57344, i8 127, i4 7); nullopt for any other type.
std::optional<double> quantizedMax(mlir::Type element);

/// True for the types a quantized value is dequantized to (f32, bf16, f16).
bool isDequantizedType(mlir::Type element);

/// The size a block of `block` elements spans along a dimension of `dim`: a
/// block past the dimension is the dimension (at least 1, for empty dims).
inline int64_t blockExtent(int64_t block, int64_t dim) {
  return std::max<int64_t>(1, std::min(block, dim));
}

/// ceil(shape[i] / block[i]) for every dimension.
llvm::SmallVector<int64_t> blockScaleShape(llvm::ArrayRef<int64_t> shape,
                                           llvm::ArrayRef<int64_t> block);

/// `scale` (of blockScaleShape(shape, block)) spread over `shape`: each element
/// gets its block's scale (reshape, broadcast_to, reshape, slice).
mlir::Value expandBlockScale(PrimitiveBuilder &pb, mlir::Value scale,
                             llvm::ArrayRef<int64_t> shape,
                             llvm::ArrayRef<int64_t> block);

/// The type autodiff carries a cotangent of `type` in: f32 for float8
/// (rounding a gradient to 3 or 2 mantissa bits would lose it), else `type`.
mlir::RankedTensorType cotangentType(mlir::RankedTensorType type);

} // namespace kiln::ir

#endif // KILN_IR_QUANTIZATION_H
