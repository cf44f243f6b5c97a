//===- RewardFunctions.h - GRPO's weighted reward functions -----*- C++ -*-===//
//
// The reward functions a GRPO run sums, with their weights (TRL's
// reward_funcs and reward_weights): grpo.reward_funcs, or by default the
// task's accuracy and format rewards weighted by task.accuracy_weight and
// task.format_weight.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_REWARDFUNCTIONS_H
#define KILN_MODELS_TRAIN_REWARDFUNCTIONS_H

#include <string>
#include <string_view>
#include <vector>

#include "models/tasks/Rewards.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

class RewardFunctions {
public:
  /// The configuration's functions (validated by TrainConfig).
  /// `thinkOpenedInPrompt`: prompts end inside <think> (DeepSeek-R1's chat
  /// template), which the format functions then expect.
  explicit RewardFunctions(const TrainConfig &config,
                           bool thinkOpenedInPrompt = false);

  const std::vector<std::string> &names() const { return funcNames; }
  const std::vector<double> &weights() const { return funcWeights; }

  /// Each function's value for one completion, in names() order, from the
  /// task's scores `r` (accuracy, strict format) and the completion.
  std::vector<double> values(const models::tasks::RewardBreakdown &r,
                             std::string_view completion) const;
  /// The weighted sum of `values`. With the default functions it is the
  /// task's own total, r.total, to the bit.
  double total(const models::tasks::RewardBreakdown &r,
               const std::vector<double> &values) const;

private:
  std::vector<std::string> funcNames;
  std::vector<double> funcWeights;
  bool taskDefault;
  bool thinkOpened;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_REWARDFUNCTIONS_H
