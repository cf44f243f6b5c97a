//===- PolicyConfig.h - the DeepSeek-V3 config of kiln-train's policy -*- C++
//-*-===//
//
// The policy's architecture as a DeepseekV3Config: model.hf_checkpoint's
// config.json, or TrainConfig.model over the byte tokenizer's vocabulary.
// Host-only, so the runtime-only trainer can write the config.json that makes
// its output directory servable.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_POLICYCONFIG_H
#define KILN_MODELS_TRAIN_POLICYCONFIG_H

#include "absl/status/statusor.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// Errors (a missing or unreadable config.json, another architecture) name
/// the file and the field.
absl::StatusOr<models::DeepseekV3Config>
policyConfig(const TrainConfig &config);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_POLICYCONFIG_H
