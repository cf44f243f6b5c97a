//===- ReasonerShapes.cpp - the shape bucket of kiln-train's entries -------===//

#include "models/train/ReasonerShapes.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "executor/StatusMacros.h"
#include "models/train/Trainer.h"

namespace kiln::train {

absl::StatusOr<ReasonerShapes> reasonerShapes(const TrainConfig &config) {
  KILN_ASSIGN_OR_RETURN(auto sizes, Trainer::measure(config));
  auto [promptLen, demoLen] = sizes;
  int64_t seqLen = std::max<int64_t>(demoLen, promptLen + config.grpo().max_new_tokens());
  if (seqLen > config.model().max_position_embeddings())
    return absl::InvalidArgumentError(
        absl::StrFormat("sequences need %d positions but model.max_position_embeddings is %d",
                        seqLen, config.model().max_position_embeddings()));
  return ReasonerShapes{seqLen, promptLen, config.sft().batch_size(),
                        config.grpo().prompts_per_step() * config.grpo().group_size()};
}

} // namespace kiln::train
