//===- Precision.h - the kiln.precision choice on a GEMM --------*- C++ -*-===//
//
// kiln-assign-precision records its choice for a matmul as the attribute
// `kiln.precision = {dtype = <narrow type>, block = <i64>, weight = "<name>"}`;
// kiln-grad copies it onto the matmuls of that matmul's gradient, and
// kiln-lower-precision turns each tagged matmul into quantize and
// scaled_matmul ops. kiln-assign-precision and kiln-instrument-precision
// share here which matmuls may be narrowed and how a choice is spelt.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PRECISION_H
#define KILN_PASSES_PRECISION_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace kiln::ir {
class DequantizeOp;
class MatmulOp;
} // namespace kiln::ir

namespace kiln::passes {

inline constexpr llvm::StringLiteral kPrecisionAttr = "kiln.precision";

/// The module attribute kiln-instrument-precision leaves: {input = <the
/// switch argument's name>, weights = [<candidate>, ...] (switch element i
/// is weights[i]), values = ["bf16", ...] (switch value v means values[v])}.
inline constexpr llvm::StringLiteral kPrecisionSwitchAttr =
    "kiln.precision_switch";
/// The name of the f32 switch argument kiln-instrument-precision adds.
inline constexpr llvm::StringLiteral kPrecisionSwitchInput = "precision_switch";

/// Parameters the narrow policies keep in the model's type: the embedding
/// and output head (DeepSeek-V3 keeps both in bf16) and the MoE router,
/// whose scores choose the experts.
inline constexpr llvm::StringLiteral kDefaultPrecisionKeep[] = {
    "embed_tokens", "lm_head", "mlp.gate.weight"};

/// `keep`, or the defaults when it is empty.
std::vector<std::string> keepPatternsOr(llvm::ArrayRef<std::string> keep);

/// True when `weight` contains one of `patterns`.
bool matchesAny(llvm::StringRef weight, llvm::ArrayRef<std::string> patterns);

/// The parameter whose GEMM `op` is, when a precision policy may narrow it:
/// float operands and a rank-2 b read from a parameter of `table`. Null
/// otherwise (attention's activation products, batched weights).
mlir::StringAttr
narrowableWeight(ir::MatmulOp op,
                 const llvm::StringMap<mlir::DictionaryAttr> &table);

/// One experts' weight ([E, ., .]) an op reads from a parameter: the
/// operand, the axis of its K, and the parameter.
struct ExpertWeight {
  unsigned operand;
  int64_t kAxis;
  mlir::StringAttr name;
};

/// The experts' weights `op` reads from parameters of `table`, with float
/// activations: a "rows" grouped_matmul's w ([E, K, N], or [E, N, K] with
/// transpose_w), moe_gate_up's w_gate and w_up ([E, I, H]) and moe_down's
/// w_down ([E, H, I]). Only the weight-only int4 policy narrows them: there
/// is no scaled grouped GEMM yet. kiln-assign-precision records its choices
/// for them as `kiln.precision = [{operand, k_axis, dtype, block, weight},
/// ...]`, one dictionary per narrowed operand.
llvm::SmallVector<ExpertWeight>
narrowableExpertWeights(mlir::Operation *op,
                        const llvm::StringMap<mlir::DictionaryAttr> &table);

/// The amax history length of the fp8-delayed policy: steps whose largest
/// amax sets a tensor's scale.
inline constexpr int64_t kDelayedScalingHistory = 16;

/// The kiln.precision attribute for the narrow type named `policy` ("fp8":
/// E4M3, current scaling; "fp8-delayed": E4M3 with delayed scaling,
/// `scaling = "delayed"` and `history`; "int4": i4) of `weight`'s GEMM in
/// blocks of `block`.
mlir::DictionaryAttr precisionChoice(mlir::Builder &b, llvm::StringRef policy,
                                     int64_t block, mlir::StringAttr weight);

/// Whether `op` is an int4 weight in the form a GEMM can dequantize in
/// registers as it loads it: i4 to bf16 or f16 in groups along the weight's
/// contiguous K (a block of ones but its last entry), groups and K multiples
/// of 32 (so no 32-wide K tile of a kernel straddles two groups), read only
/// as the K-major weight of one GEMM: the rank-2 b of a kiln.matmul with
/// transpose_b, or the w [E, N, K] of a "rows" kiln.grouped_matmul with
/// transpose_w. kiln-lower-precision's int4 policy writes this form; targets
/// with such a GEMM keep it whole (kiln-hoist-derived-state's
/// `keep-int4-weight-dequantize`, kiln-form-fusions).
bool isGemmInt4Weight(ir::DequantizeOp op);

} // namespace kiln::passes

#endif // KILN_PASSES_PRECISION_H
