//===- KernelBuilder.h - one kiln op as a linalg kernel function -*- C++ -*-===//
//
// The first step of the ptx target: each kiln op becomes a func.func over
// memrefs (its operands, then its results) whose body is linalg on buffers, so
// the rest of the path (parallel loops -> gpu -> NVVM -> PTX) is stock MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_KERNELBUILDER_H
#define KILN_CODEGEN_PTX_KERNELBUILDER_H

#include <string>

#include "absl/status/statusor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"

namespace kiln::codegen::ptx {

/// Builds `func.func @<name>(operands..., results...)` for `op` into `module`.
/// Returns an error naming the op when the ptx target cannot run it yet.
absl::Status buildKernelFunction(mlir::Operation *op, mlir::ModuleOp module,
                                 const std::string &name);

/// True if `op` needs no kernel on the ptx target (handled as alias or constant).
bool isHostHandled(mlir::Operation *op);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_KERNELBUILDER_H
