//===- RewardFunctions.cpp - GRPO's weighted reward functions -------------===//

#include "models/train/RewardFunctions.h"

#include "models/tasks/CompletionFormat.h"

namespace kiln::train {

RewardFunctions::RewardFunctions(const TrainConfig &config,
                                 bool thinkOpenedInPrompt)
    : taskDefault(config.grpo().reward_funcs_size() == 0),
      thinkOpened(thinkOpenedInPrompt) {
  const GrpoConfig &g = config.grpo();
  if (taskDefault) {
    funcNames = {"accuracy", "format"};
    funcWeights = {config.task().accuracy_weight(),
                   config.task().format_weight()};
    return;
  }
  funcNames.assign(g.reward_funcs().begin(), g.reward_funcs().end());
  if (g.reward_weights_size() == 0)
    funcWeights.assign(funcNames.size(), 1.0);
  else
    funcWeights.assign(g.reward_weights().begin(), g.reward_weights().end());
}

std::vector<double>
RewardFunctions::values(const models::tasks::RewardBreakdown &r,
                        std::string_view completion) const {
  std::vector<double> out;
  out.reserve(funcNames.size());
  models::tasks::FormatOptions lenient =
      models::tasks::FormatOptions::lenient();
  lenient.thinkOpenedInPrompt = thinkOpened;
  for (const std::string &name : funcNames) {
    if (name == "accuracy")
      out.push_back(r.accuracy);
    else if (name == "format")
      out.push_back(r.format);
    else // lenient_format
      out.push_back(models::tasks::checkFormat(completion, lenient).ok() ? 1.0
                                                                         : 0.0);
  }
  return out;
}

double RewardFunctions::total(const models::tasks::RewardBreakdown &r,
                              const std::vector<double> &values) const {
  if (taskDefault)
    return r.total;
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i)
    sum += funcWeights[i] * values[i];
  return sum;
}

} // namespace kiln::train
