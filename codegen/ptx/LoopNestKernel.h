//===- LoopNestKernel.h - a kiln.dispatch region as a loop nest -*- C++ -*-===//
//
// The loop_nest provider of the ptx kernel table: a region's root and the
// producers fused into it become `func.func @<name>(inputs..., results...)`
// over memrefs whose body is linalg (or one scf.parallel) on buffers, so the
// rest of the path (parallel loops -> gpu -> NVVM -> PTX) is stock MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_LOOPNESTKERNEL_H
#define KILN_CODEGEN_PTX_LOOPNESTKERNEL_H

#include <string>

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseSet.h"

namespace kiln::codegen::ptx {

/// Builds `func.func @<name>(inputs..., results...)` computing `root` into
/// `module`, with every producer in `fused` that `root` reads (transitively)
/// recomputed inside the kernel instead of read from memory. `inputs` receives
/// the values the kernel reads from buffers, in argument order. Returns an
/// error naming the op when the ptx target cannot run it yet.
absl::Status buildLoopNestKernel(mlir::Operation *root,
                                 const llvm::DenseSet<mlir::Operation *> &fused,
                                 mlir::ModuleOp module, const std::string &name,
                                 llvm::SmallVectorImpl<mlir::Value> &inputs);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_LOOPNESTKERNEL_H
