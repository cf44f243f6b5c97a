//===- Pipeline.h - the kiln pass pipelines ---------------------*- C++ -*-===//
//
// The ordered passes each target runs, shared by kiln-compile, the codegen
// entry point and tests, so all of them see the same IR after every pass.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PIPELINE_H
#define KILN_PASSES_PIPELINE_H

#include "mlir/Pass/PassManager.h"

#include <string>
#include <vector>

namespace kiln::passes {

struct PipelineOptions {
  /// Rewrite MoE dispatch into the fused MoE ops (kiln-fuse-moe) before
  /// differentiating.
  bool fuseMoe = true;
  /// Data-parallel ranks (kiln-data-parallel, before differentiating); 1 adds
  /// no pass.
  int64_t dataParallel = 1;
  /// ZeRO stage with dataParallel > 1: 1 shards the optimizer state over
  /// the ranks (kiln-shard-optimizer-state); 0 keeps it whole.
  int64_t zero = 0;
  /// kiln-bucket-gradients' bucket-bytes: most gradient bytes in one
  /// all_reduce (PyTorch DDP's 25 MiB).
  int64_t gradientBucketBytes = 25 << 20;
  /// Expert-parallel ranks (kiln-expert-parallel, after kiln-fuse-moe); 1
  /// adds no pass.
  int64_t expertParallel = 1;
  /// kiln-assign-precision's policy: "bf16" (the model's types; adds no
  /// pass), "fp8" (DeepSeek-V3's block-scaled E4M3 GEMMs, lowered by
  /// kiln-lower-precision after autodiff), "int4" (weight-only, inference),
  /// an explicit assignment "WEIGHT=TYPE,WEIGHT=TYPE,..." (its `assign`
  /// option over bf16: what the auto policy chose) or "instrument"
  /// (kiln-instrument-precision instead: the auto policy's calibration
  /// graph, each candidate chosen by the precision_switch input).
  std::string precision = "bf16";
  /// Parameter name patterns the fp8 policy leaves alone (empty: the pass's
  /// defaults).
  std::vector<std::string> precisionKeep;
  /// Expand composite ops into primitives (kiln-decompose).
  bool decompose = false;
  /// With `decompose`: composites the target runs as fused kernels instead
  /// (names without "kiln.").
  std::vector<std::string> keepComposites;
  /// Compute what entries derive from parameters alone once, into derived
  /// state (kiln-hoist-derived-state, last).
  bool hoistDerivedState = true;
  /// With `hoistDerivedState`: int4 weights stay packed in derived state and
  /// are dequantized in the step, where the target's GEMM does it as it
  /// loads them (needs "dequantize" among `keepComposites`).
  bool keepInt4WeightDequantize = false;
  /// With `hoistDerivedState`: GEMMs of one activation by several unwritten
  /// weights become one over their concatenation (kiln-merge-sibling-matmuls,
  /// just before hoisting, which stores the concatenation once).
  bool mergeSiblingMatmuls = false;
};

/// Appends the graph-level passes for the host target to `pm`.
void buildHostPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Registers every kiln pass and the standard ones the pipelines use, for
/// command-line tools.
void registerAllPasses();

} // namespace kiln::passes

#endif // KILN_PASSES_PIPELINE_H
