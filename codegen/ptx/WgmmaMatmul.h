//===- WgmmaMatmul.h - tensor-core matmul on Hopper (wgmma + TMA) -*- C++
//-*-===//
//
// The sm_90a path of kiln.matmul, grouped_matmul (both modes) and the fp8
// scaled_matmul: a warp-specialised
// kernel in which one warpgroup streams tiles of both operands into shared
// memory with the bulk tensor copy engine (TMA), completing on mbarriers, and
// two warpgroups multiply them with wgmma out of shared memory.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_WGMMAMATMUL_H
#define KILN_CODEGEN_PTX_WGMMAMATMUL_H

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "executor/executable.pb.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"

namespace kiln::codegen::ptx {

/// A tensor map a kernel takes by value after its buffer parameters: the
/// launch names its buffer by `argument` (the op's operand index, or the
/// number of operands for the result), and PtxCodegen declares the parameter.
struct KernelTensorMap {
  std::string kernel;
  int argument;
  proto::TensorMap map; // `buffer` unset: the launch fills it in
};

/// Builds `func.func @<name>(operands..., out)` launching the wgmma kernel,
/// plus the gpu.module holding it, into `module`; appends the kernel's tensor
/// maps (in parameter order) to `maps`. Takes the ops isTensorCoreMatmul,
/// isTensorCoreContract and isTensorCoreScaledMatmul (MatmulTiling.h) accept.
absl::Status buildWgmmaMatmul(mlir::Operation *op, mlir::ModuleOp module,
                              const std::string &name, std::vector<KernelTensorMap> &maps);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_WGMMAMATMUL_H
