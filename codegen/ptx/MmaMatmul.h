//===- MmaMatmul.h - bf16/f16 matmul on tensor cores (mma.sync) --*- C++ -*-===//
//
// The tensor-core path of kiln.matmul on the ptx target: a tiled kernel built
// directly in the gpu / nvgpu / LLVM dialects (cp.async into shared memory,
// ldmatrix, mma.sync m16n8k16 with f32 accumulators), not a linalg loop nest.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_MMAMATMUL_H
#define KILN_CODEGEN_PTX_MMAMATMUL_H

#include <string>

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"

namespace kiln::codegen::ptx {

/// Builds `func.func @<name>(operands..., out)` launching the mma.sync kernel, plus
/// the gpu.module holding it, into `module` (a gpu.container_module). Takes the
/// ops isTensorCoreMatmul (MatmulTiling.h) accepts.
absl::Status buildMmaMatmul(mlir::Operation *op, mlir::ModuleOp module,
                            const std::string &name);

/// The same kernel for a GEMM whose B is the kiln.dequantize of a packed int4
/// weight (isTensorCoreInt4Matmul): its kernel reads q and the scales, the
/// host function's parameters being (a, q, scale, [offsets], out), and
/// dequantizes each B tile in shared memory as it loads it.
absl::Status buildMmaInt4Matmul(mlir::Operation *op, mlir::ModuleOp module,
                                const std::string &name);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_MMAMATMUL_H
