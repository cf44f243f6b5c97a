//===- ReasonerShapes.cpp - the shape bucket of kiln-train's entries -------===//

#include "models/train/ReasonerShapes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/StatusMacros.h"
#include "models/train/PolicyConfig.h"
#include "models/train/Trainer.h"

namespace kiln::train {

absl::StatusOr<ReasonerShapes> reasonerShapes(const TrainConfig &config) {
  KILN_ASSIGN_OR_RETURN(models::DeepseekV3Config policy, policyConfig(config));
  KILN_ASSIGN_OR_RETURN(auto sizes, Trainer::measure(config));
  auto [promptLen, demoLen] = sizes;
  int64_t seqLen = std::max<int64_t>(demoLen, promptLen + config.grpo().max_new_tokens());
  if (seqLen > policy.maxPositionEmbeddings)
    return absl::InvalidArgumentError(absl::StrFormat(
        "sequences need %d positions but %s is %d", seqLen,
        config.model().has_hf_checkpoint()
            ? "max_position_embeddings of model.hf_checkpoint's config.json"
            : "model.max_position_embeddings",
        policy.maxPositionEmbeddings));
  ReasonerShapes shapes{seqLen, promptLen, config.sft().batch_size(),
                        config.grpo().prompts_per_step() *
                            config.grpo().group_size()};
  // Before anything is built or allocated: weights, gradients, two AdamW
  // moments and the GRPO reference (4 bytes each), and activations of the
  // larger batch through every layer (a generous 64 floats per hidden unit).
  if (absl::Status s = policy.validate(); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat("model: ", s.message()));
  double rows = std::max<double>(shapes.sftBatch, shapes.grpoBatch);
  double activations =
      rows * double(seqLen) * 4.0 *
      (64.0 * double(policy.hiddenSize) * double(policy.numHiddenLayers) +
       4.0 * double(policy.vocabSize));
  KILN_RETURN_IF_ERROR(policy.checkFitsInMemory(20, activations, "the policy"));
  return shapes;
}

} // namespace kiln::train
