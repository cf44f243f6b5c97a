//===- HfCheckpoint.h - DeepSeek-V3 weights <-> Hugging Face files -*- C++
//-*-===//
//
// Kiln keeps each MoE layer's routed experts stacked ([E, I, H] state) so one
// grouped_matmul serves them all; Hugging Face files hold one Linear per
// expert. This maps the two both ways and moves whole checkpoints (config.json
// plus single or sharded safetensors) into and out of an Executor.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_HFCHECKPOINT_H
#define KILN_MODELS_DEEPSEEK_HFCHECKPOINT_H

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/Executor.h"
#include "executor/HostTensor.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

/// One state entry of the Kiln model.
struct DeepseekStateEntry {
  std::string name;
  std::vector<int64_t> shape;
  /// Held in f32 whatever the model dtype (the router's correction bias, as
  /// transformers keeps it).
  bool alwaysF32 = false;
  /// A buffer rather than a trainable parameter.
  bool buffer = false;
};

/// Every state entry, in model order. Names are transformers' parameter names,
/// except the stacked experts: `model.layers.{i}.mlp.experts.gate_proj` and
/// `.up_proj` [E, I, H], `.down_proj` [E, H, I] (expert e's Linear weight is
/// row e).
std::vector<DeepseekStateEntry>
deepseekStateEntries(const DeepseekV3Config &config);

/// Hugging Face tensors -> Kiln state of `dtype` (floats are converted).
/// Accepts per-expert tensors (`mlp.experts.{e}.gate_proj.weight`, as
/// published checkpoints and transformers 5.17's save_pretrained write) or
/// transformers' fused `mlp.experts.gate_up_proj` / `mlp.experts.down_proj`.
/// Ignores multi-token-prediction layers (indices num_hidden_layers ..
/// + num_nextn_predict_layers - 1) and `rotary_emb.inv_freq`. A missing,
/// unexpected or wrongly shaped tensor is an error naming it.
absl::StatusOr<std::map<std::string, HostTensor>>
hfToKilnState(const DeepseekV3Config &config,
              const std::map<std::string, HostTensor> &hf, proto::DType dtype);

/// Kiln state -> Hugging Face tensors (per-expert layout), in model order.
absl::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
kilnToHfState(const DeepseekV3Config &config,
              const std::map<std::string, HostTensor> &state);

/// Loads `dir` (config.json plus model.safetensors, or
/// model.safetensors.index.json and its shards) into the executor's state.
/// The folder's config.json, when present, must describe the same model as
/// `config`. Everything is checked before any state changes. With
/// `fileDTypes`, each tensor's dtype in the files is recorded there by its
/// Hugging Face name (so a save can write the dtypes it read).
absl::Status
loadHfCheckpoint(EntryRunner &executor, const DeepseekV3Config &config,
                 const std::string &dir,
                 std::map<std::string, proto::DType> *fileDTypes = nullptr);

struct HfSaveOptions {
  /// One model.safetensors up to this many bytes, else shards of at most
  /// this many and an index.
  int64_t maxShardBytes = int64_t{5} << 30;
  /// The dtype each Hugging Face tensor is written in, by name (floats
  /// rounded to nearest even); a tensor not named gets `otherDType`.
  std::map<std::string, proto::DType> dtypes;
  /// DTYPE_INVALID: the executor's dtype.
  proto::DType otherDType = proto::DTYPE_INVALID;
  /// config.json's text; empty: config.toJson().
  std::string configJson;
};

/// Writes config.json and the weights in Hugging Face layout into `dir`
/// (created if needed). Each file goes through a temporary and a rename.
absl::Status saveHfCheckpoint(const EntryRunner &executor,
                              const DeepseekV3Config &config,
                              const std::string &dir,
                              const HfSaveOptions &options);
absl::Status saveHfCheckpoint(const EntryRunner &executor,
                              const DeepseekV3Config &config,
                              const std::string &dir,
                              int64_t maxShardBytes = int64_t{5} << 30);

/// Writes `bytes` to `path` through `path.tmp.<pid>` and a rename, so a
/// reader sees the old file or the new one, never a part.
absl::Status writeFileAtomically(const std::string &path,
                                 const std::string &bytes);

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_HFCHECKPOINT_H
