//===- PtxCodegen.h - kiln IR to a ptx-target Executable --------*- C++ -*-===//
//
// Lowers every op of an optimised, decomposed kiln module to PTX that Kiln emits
// through MLIR (linalg -> parallel loops -> gpu -> NVVM -> LLVM NVPTX), and plans
// the entry points' buffers into one device arena.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_PTXCODEGEN_H
#define KILN_CODEGEN_PTX_PTXCODEGEN_H

#include <string>

#include "absl/status/statusor.h"
#include "executor/executable.pb.h"
#include "mlir/IR/BuiltinOps.h"

namespace kiln::codegen::ptx {

struct PtxOptions {
  /// The GPU the PTX targets and the PTX ISA version.
  std::string chip = "sm_90";
  std::string features = "+ptx80";
  /// When set, each kernel's .ptx and the IR of its lowering stages go here.
  std::string dumpDir;
  /// Route kiln.matmul to cuBLAS (a "gemm" step the executor runs through the
  /// library it loads at run time) instead of Kiln's kernels, where cuBLAS
  /// takes the shapes: the opt-in provider of DESIGN.md.
  bool cublasMatmul = false;
  /// On Hopper (sm_90, sm_90a), run bf16/f16 matmuls on the wgmma + TMA kernel
  /// (sm_90a PTX); otherwise, or when cleared, on the mma.sync kernel.
  bool wgmmaMatmul = true;
};

absl::StatusOr<proto::Executable> lowerToPtx(mlir::ModuleOp module,
                                             const PtxOptions &options);

/// Assigns arena offsets to an entry's non-argument buffers by liveness
/// (first fit, 256-byte aligned); alias outputs share their input's bytes.
void planBuffers(proto::EntryPoint &entry);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_PTXCODEGEN_H
