//===- Compile.h - the compiler entry point ---------------------*- C++ -*-===//
//
// module + target + options -> Executable: runs the target's pass pipeline
// (dumping the IR after every pass on request) and lowers the result to the
// Executable format the executor runs.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_COMPILE_H
#define KILN_CODEGEN_COMPILE_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/executable.pb.h"
#include "ir/IrModule.h"

namespace kiln::codegen {

/// The version string every Executable records (part of a bundle's key).
extern const char *const kCompilerVersion;

struct CompileOptions {
  /// "host": each op becomes one step of the CPU executor. "ptx": each op
  /// becomes kernels Kiln emits as PTX, for the CUDA executor.
  std::string target = "host";
  /// Expand composite ops (softmax, attention, ...) into primitives first.
  bool decompose = false;
  /// Rewrite MoE dispatch into the fused MoE ops (kiln-fuse-moe).
  bool fuseMoe = true;
  /// Data-parallel ranks the program runs on (kiln-data-parallel): > 1
  /// averages replicated parameters' gradients and the returned loss over
  /// them (MPI on the host target, NCCL on ptx).
  int64_t dataParallel = 1;
  /// ZeRO stage over the dataParallel ranks: 1 keeps 1/N of every optimizer
  /// state tensor per rank (kiln-shard-optimizer-state: gradients
  /// reduce_scattered, the update on the rank's block, parameters
  /// all_gathered); 0 keeps it whole. Needs dataParallel > 1.
  int64_t zero = 0;
  /// Most gradient bytes in one data-parallel all_reduce
  /// (kiln-bucket-gradients; PyTorch DDP's 25 MiB).
  int64_t gradientBucketBytes = 25 << 20;
  /// Expert-parallel ranks (kiln-expert-parallel): > 1 shards the
  /// parameters marked `sharding = "experts"` and exchanges MoE rows with
  /// kiln.all_to_all. With dataParallel > 1 both must be equal (one world).
  int64_t expertParallel = 1;
  /// Per-op providers for the ptx target, "OP=PROVIDER"; today "matmul=cublas"
  /// (matmuls run by cuBLAS, loaded by the executor at run time). Off by
  /// default: every kernel is PTX that Kiln emitted.
  std::vector<std::string> providers;
  /// ptx target: bf16/f16 matmuls run the Hopper kernel (wgmma fed by TMA,
  /// sm_90a PTX). Cleared, they run the mma.sync kernel, which any sm_80+ GPU
  /// takes.
  bool wgmmaMatmul = true;
  /// ptx target: MoE plans of at most 1024 pairs run as one kernel
  /// (PtxGraphOptions::moePlanKernel); cleared, as argsort, bincount and scan.
  bool moePlanKernel = true;
  /// ptx target on Hopper: the GEMM fusions of the wgmma kernels
  /// (PtxGraphOptions::fuseGemms); cleared, each GEMM, gather and
  /// elementwise op keeps its own launch (an A/B switch, and a way around a
  /// fused kernel).
  bool fuseGemms = true;
  /// With fuseGemms: moe_gate_up as one wgmma launch
  /// (PtxGraphOptions::gateUpKernel; off by default, slower on an H100).
  bool gateUpKernel = false;
  /// kiln-assign-precision's policy: "bf16" (the types the model wrote),
  /// "fp8" (DeepSeek-V3's recipe: weight GEMMs and their gradients' GEMMs in
  /// E4M3 with 1x128 / 128x128 block scales) or "int4" (inference: weights
  /// quantized group-wise along K in groups of 128).
  std::string precision = "bf16";
  /// Parameter name patterns that keep the model's type under fp8 (empty:
  /// embed_tokens, lm_head, mlp.gate.weight).
  std::vector<std::string> precisionKeep;
  /// Work entries derive from parameters alone (casts of weights, their
  /// quantization) is computed once into derived state and recomputed only
  /// after a parameter is written (kiln-hoist-derived-state).
  bool hoistDerivedState = true;
  /// When set, the IR before the pipeline and after every pass is written here,
  /// one numbered file per pass named after it ("03-cse.mlir").
  std::string dumpIrDir;
};

/// The table of `--precision-report`: every operand that options.precision
/// quantizes (text is the module, parsed afresh; name names it in errors).
absl::StatusOr<std::string> precisionReport(const std::string &text,
                                            const std::string &name,
                                            const CompileOptions &options);

/// Runs the pipeline on `module` in place, then lowers it. Errors name the pass
/// or the op that failed and its location.
absl::StatusOr<proto::Executable> compile(IrModule &module,
                                          const CompileOptions &options = {});

} // namespace kiln::codegen

#endif // KILN_CODEGEN_COMPILE_H
