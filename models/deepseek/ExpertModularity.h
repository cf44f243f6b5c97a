//===- ExpertModularity.h - single experts as modules ----------*- C++ -*-===//
//
// Host-side tools for treating routed experts as modules: swapping one
// expert's weights in from another checkpoint, and reporting how much of the
// routed traffic each expert received.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_EXPERTMODULARITY_H
#define KILN_MODELS_DEEPSEEK_EXPERTMODULARITY_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "executor/Executor.h"
#include "executor/HostTensor.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

/// The entry output holding MoE layer `layer`'s per-expert load, f32 [E]:
/// "expert_load.<layer>".
std::string expertLoadName(int64_t layer);

/// Overwrites expert `expert` of MoE layer `layer` (its rows of the stacked
/// `model.layers.{layer}.mlp.experts.{gate,up,down}_proj` state) with expert
/// `sourceExpert` (default: `expert`) of the same layer of another Hugging
/// Face checkpoint: a folder (config.json optional; model.safetensors or an
/// index and shards), a .safetensors file or an index .json. Per-expert and
/// transformers' fused expert tensors are both read; floats are converted to
/// the state's dtype. Where the executor holds full-size AdamW state for the
/// stack, the expert's `<p>.master` rows take the new weights too and its
/// `<p>.exp_avg`/`.exp_avg_sq` rows are zeroed (a fresh start for that
/// expert); compact per-trainable-expert state (DeepseekTrainOptions::
/// frozenExperts) is left alone. Errors name the missing or mismatched
/// tensor, and nothing changes on error.
absl::Status replaceExpert(Executor &executor, const DeepseekV3Config &config,
                           int64_t layer, int64_t expert,
                           const std::string &otherCheckpointPathOrDir,
                           std::optional<int64_t> sourceExpert = std::nullopt);

/// Token->expert assignment counts accumulated over steps, per MoE layer, and
/// the share of each expert.
class ExpertUtilisation {
public:
  explicit ExpertUtilisation(const DeepseekV3Config &config);

  /// Adds every `expertLoadName(l)` found in a step's outputs (e.g.
  /// Executor::runNamed's result); an output of the wrong shape is an error
  /// and adds nothing.
  absl::Status add(const std::map<std::string, HostTensor> &outputs);
  /// Adds one layer's load [E].
  absl::Status add(int64_t layer, const HostTensor &load);

  /// The MoE layers, ascending.
  std::vector<int64_t> layers() const;
  /// Assignments per expert of `layer` so far.
  const std::vector<double> &counts(int64_t layer) const;
  /// counts / their sum (each layer's fractions sum to 1); all zeros before
  /// any load was added.
  std::vector<double> fractions(int64_t layer) const;
  /// One row per MoE layer, one column per expert, in percent, plus each
  /// layer's max/mean load ratio (1.00 is perfect balance).
  std::string table() const;

private:
  int64_t experts;
  std::map<int64_t, std::vector<double>> loads;
};

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_EXPERTMODULARITY_H
