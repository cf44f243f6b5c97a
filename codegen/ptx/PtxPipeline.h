//===- PtxPipeline.h - the ptx target's pass pipelines ----------*- C++ -*-===//
//
// The graph pipeline that makes every ptx decision as IR (regions, kernel
// choice), and the three stock-MLIR pipelines each region's kernels go
// through: gpu mapping, NVVM/LLVM lowering, PTX emission. Built in C++ so a
// misspelt pass or option fails to compile rather than at run time.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_PTXPIPELINE_H
#define KILN_CODEGEN_PTX_PTXPIPELINE_H

#include <string>
#include <vector>

#include "codegen/ptx/KernelTable.h"
#include "mlir/Pass/PassManager.h"

namespace kiln::codegen::ptx {

struct PtxGraphOptions {
  /// Expand every composite, attention included (kiln-compile --decompose);
  /// otherwise attention stays whole where the fused kernel takes it.
  bool decomposeAll = false;
  /// kiln-fuse-moe before autodiff.
  bool fuseMoe = true;
  /// Keep kiln.moe_plan whole for its one-block kernel where it takes the plan
  /// (isDirectMoePlan). Cleared, or past the kernel's limits, the plan is
  /// argsort, bincount and cumsum, as on the host.
  bool moePlanKernel = true;
  /// The wgmma GEMM fusions: moe_gate_up as one launch (the token gather in
  /// the A load, SwiGLU in the epilogue), a SwiGLU MLP's projections with
  /// their gated product, A read through its producer's strided view, and
  /// GEMMs of one A by several unwritten weights merged into one
  /// (kiln-merge-sibling-matmuls, with hoistDerivedState).
  bool fuseGemms = true;
  /// With fuseGemms: moe_gate_up as one wgmma launch (wgmma_moe_gate_up).
  /// Off by default: on an H100 (tests/gpu/last-h100-fusions.log) it took
  /// 90 us a decode layer where the gather and two grouped GEMMs it replaces
  /// take about 50, and decode ran ~4% slower with it; its A gather
  /// (cp.async by the producer warpgroup) is the suspect.
  bool gateUpKernel = false;
  /// Data- and expert-parallel ranks (kiln-data-parallel,
  /// kiln-expert-parallel); their collectives run over NCCL.
  int64_t dataParallel = 1;
  int64_t expertParallel = 1;
  /// kiln-bucket-gradients' bucket-bytes.
  int64_t gradientBucketBytes = 25 << 20;
  /// kiln-assign-precision's policy and kept parameters (PipelineOptions).
  std::string precision = "bf16";
  std::vector<std::string> precisionKeep;
  /// kiln-hoist-derived-state (PipelineOptions).
  bool hoistDerivedState = true;
  KernelTarget target;
};

/// Graph passes for the ptx target: the host pipeline's (grad, cleanup,
/// decomposition), kiln-expand-collectives, kiln-expand-unfused-composites,
/// kiln-form-fusions and kiln-select-kernels.
void buildPtxGraphPipeline(mlir::OpPassManager &pm,
                           const PtxGraphOptions &options);

/// A region's linalg kernel function -> gpu.launch_func of outlined kernels
/// whose launches pass buffers only.
void buildKernelMappingPipeline(mlir::OpPassManager &pm);

/// Outlined kernels -> the LLVM dialect with NVVM intrinsics for `chip`.
void buildNvvmLoweringPipeline(mlir::OpPassManager &pm, const std::string &chip,
                               const std::string &features);

/// Each gpu.module -> a gpu.binary holding its PTX text.
void buildPtxEmissionPipeline(mlir::OpPassManager &pm);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_PTXPIPELINE_H
