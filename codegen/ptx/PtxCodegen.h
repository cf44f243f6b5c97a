//===- PtxCodegen.h - kiln IR to a ptx-target Executable --------*- C++ -*-===//
//
// Lowers a module the ptx graph pipeline prepared (every kernel a kiln.dispatch
// region whose `kernel` names its provider) to PTX that Kiln emits through MLIR
// (linalg -> parallel loops -> gpu -> NVVM -> LLVM NVPTX, or kernels built in
// the gpu dialect), and plans the entry points' buffers into one device arena.
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
};

absl::StatusOr<proto::Executable> lowerToPtx(mlir::ModuleOp module,
                                             const PtxOptions &options);

/// Assigns arena offsets to an entry's non-argument buffers by liveness
/// (first fit, 256-byte aligned); alias outputs share their input's bytes.
/// Not a pass: it reads the launch steps lowering produced (which buffers
/// each kernel touches, after fusion), which exist only in the Executable.
void planBuffers(proto::EntryPoint &entry);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_PTXCODEGEN_H
