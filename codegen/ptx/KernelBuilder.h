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
#include "llvm/ADT/DenseSet.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"

namespace kiln::codegen::ptx {

/// Builds `func.func @<name>(inputs..., results...)` computing `root` into
/// `module`, with every producer in `fused` that `root` reads (transitively)
/// recomputed inside the kernel instead of read from memory. `inputs` receives
/// the values the kernel reads from buffers, in argument order. Returns an
/// error naming the op when the ptx target cannot run it yet.
absl::Status buildKernelFunction(mlir::Operation *root,
                                 const llvm::DenseSet<mlir::Operation *> &fused,
                                 mlir::ModuleOp module, const std::string &name,
                                 llvm::SmallVectorImpl<mlir::Value> &inputs);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_KERNELBUILDER_H
