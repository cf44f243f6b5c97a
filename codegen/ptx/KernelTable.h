//===- KernelTable.h - the ptx target's kernel providers -------*- C++ -*-===//
//
// One ordered table of the ways the ptx target can lower a kiln.dispatch
// region: library calls (opt-in cuBLAS), the tensor-core GEMMs, the kernels
// written in the gpu dialect (sort, scan, scatter, sampling, attention, the
// CUDA-core matmul, bincount) and, last, loop nests through linalg, which
// take any region. kiln-select-kernels records the first provider whose
// `matches` accepts a region's root in the region's `kernel` attribute;
// PtxCodegen then calls that provider's `build` and decides nothing itself.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_KERNELTABLE_H
#define KILN_CODEGEN_PTX_KERNELTABLE_H

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/ptx/WgmmaMatmul.h"
#include "executor/executable.pb.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"

namespace kiln::codegen::ptx {

/// What kernel selection depends on besides the op itself.
struct KernelTarget {
  /// The GPU the PTX targets ("sm_90" for Hopper).
  std::string chip = "sm_90";
  /// Hopper matmuls on the wgmma + TMA kernel (else mma.sync).
  bool wgmma = true;
  /// The opt-in cuBLAS provider for kiln.matmul.
  bool cublasMatmul = false;
};

/// One region's lowering: what a provider reads and what it produces.
struct KernelBuild {
  /// The region's root and the producers it recomputes (empty unless the
  /// provider takes fused producers).
  mlir::Operation *root = nullptr;
  llvm::DenseSet<mlir::Operation *> fused;
  /// Receives the kernels (a gpu.module) and `func.func @<name>` launching
  /// them over (inputs..., results...) buffers.
  mlir::ModuleOp module;
  std::string name;
  /// Filled by `build`: the values the kernels read from buffers, in the host
  /// function's argument order.
  llvm::SmallVector<mlir::Value> inputs;
  /// Tensor maps the executor encodes at launch (wgmma kernels).
  std::vector<KernelTensorMap> tensorMaps;
  /// Set by library providers instead of kernels.
  std::optional<proto::Gemm> gemm;
};

struct KernelProvider {
  /// The name kiln-select-kernels records ("wgmma_matmul", "loop_nest", ...).
  const char *name;
  /// Whether the provider lowers regions with fused producers (loop nests);
  /// the others take single-op regions.
  bool takesFusedProducers;
  /// The PTX target the kernels need when it is not the chip's own (wgmma and
  /// setmaxnreg exist only on "sm_90a"); null otherwise.
  const char *arch;
  bool (*matches)(mlir::Operation *root, const KernelTarget &target);
  absl::Status (*build)(KernelBuild &build);
};

/// Every provider, in the order they are tried.
llvm::ArrayRef<KernelProvider> kernelProviders();

/// The provider named `name`, or null.
const KernelProvider *findKernelProvider(llvm::StringRef name);

/// The first provider that takes a region rooted at `root` (holding fused
/// producers when `hasFusedProducers`). Never null: loop nests take any op.
const KernelProvider &selectKernelProvider(mlir::Operation *root,
                                           bool hasFusedProducers,
                                           const KernelTarget &target);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_KERNELTABLE_H
