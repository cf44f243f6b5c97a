//===- HfPolicy.h - a policy from a Hugging Face checkpoint -----*- C++ -*-===//
//
// model.hf_checkpoint's weights into kiln-train's executor, and the trained
// policy back out as a checkpoint transformers loads: the same files, the
// weights in the dtypes the source held them (Kiln trains f32 master
// weights; a bf16 source gets their bf16 rounding).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_HFPOLICY_H
#define KILN_MODELS_TRAIN_HFPOLICY_H

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

class HfPolicy {
public:
  /// The files copied through from the source folder when present, beside
  /// config.json.
  static const std::vector<std::string> &copiedFiles();

  /// Sets the executor's parameters from model.hf_checkpoint (checked
  /// against the policy's config.json before anything changes).
  static absl::StatusOr<HfPolicy> load(EntryRunner &executor,
                                       const TrainConfig &config);

  /// Writes the executor's policy into `dir`: model.safetensors in Hugging
  /// Face names, each tensor in the source's dtype (tensors the source held
  /// in another layout: the source's embedding dtype), and the source's
  /// config.json and copiedFiles() as they are; each file through a
  /// temporary and a rename.
  absl::Status save(const EntryRunner &executor, const std::string &dir) const;

private:
  HfPolicy() = default;
  std::string source;
  models::DeepseekV3Config config;
  std::map<std::string, proto::DType> dtypes;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_HFPOLICY_H
