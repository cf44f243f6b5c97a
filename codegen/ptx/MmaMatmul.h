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

/// True if `op` is a kiln.matmul or a "rows" kiln.grouped_matmul the
/// tensor-core kernel runs: bf16 or f16 operands, each operand's contiguous dim
/// a multiple of 8 (16-byte copies), and matmul batch dims either equal to the
/// result's or absent (broadcast). A grouped launch finds each block's group
/// and rows from the offsets on the device.
bool isMmaMatmul(mlir::Operation *op);

/// Builds `func.func @<name>(operands..., out)` launching the tensor-core kernel, plus
/// the gpu.module holding it, into `module` (a gpu.container_module).
absl::Status buildMmaMatmul(mlir::Operation *op, mlir::ModuleOp module,
                            const std::string &name);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_MMAMATMUL_H
