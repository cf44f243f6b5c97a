//===- PolicyConfig.h - the DeepSeek-V3 config of kiln-train's policy -*- C++
//-*-===//
//
// TrainConfig.model over the byte tokenizer's vocabulary, as a
// DeepseekV3Config. Host-only, so the runtime-only trainer can write the
// config.json that makes its output directory servable.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_POLICYCONFIG_H
#define KILN_MODELS_TRAIN_POLICYCONFIG_H

#include "models/deepseek/DeepseekConfig.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

models::DeepseekV3Config policyConfig(const TrainConfig &config);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_POLICYCONFIG_H
