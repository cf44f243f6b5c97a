//===- Rewards.h - DeepSeek-R1 rule-based rewards, by name ------*- C++ -*-===//
//
// A reward scores one completion of one problem: accuracy (the extracted
// answer checked exactly) plus format (the <think>/<answer> shape), weighted.
// Rewards are plain callables, looked up by name so a trainer's config can
// pick one ("arithmetic", "countdown", "format_only", or one it adds).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_REWARDS_H
#define KILN_MODELS_TASKS_REWARDS_H

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tasks/CompletionFormat.h"
#include "models/tasks/Problem.h"

namespace kiln::models::tasks {

struct RewardBreakdown {
  /// 1 when the answer is exactly right, else 0.
  double accuracy = 0.0;
  /// 1 when the completion has the required shape, else 0.
  double format = 0.0;
  /// accuracyWeight * accuracy + formatWeight * format.
  double total = 0.0;
};

using RewardFn = std::function<RewardBreakdown(const Problem &,
                                               std::string_view completion)>;

struct RewardOptions {
  double accuracyWeight = 1.0;
  /// Small next to accuracy, as in TinyZero, so a well-formatted wrong
  /// answer never outscores a right one.
  double formatWeight = 0.1;
  FormatOptions format;
  /// True: a right answer in a malformed completion earns no accuracy.
  bool accuracyRequiresFormat = false;
  /// Countdown: false (TinyZero's rule) wants every given number used
  /// exactly once; true accepts any sub-multiset of them.
  bool countdownAllowSubset = false;

  /// Fails on a weight that is not finite.
  absl::Status validate() const;
};

/// Accuracy: the answer is the integer `problem.target`, in canonical
/// decimal with optional surrounding whitespace (parseIntegerAnswer).
RewardFn arithmeticReward(const RewardOptions &options = {});
/// Accuracy: the answer is an expression over `problem.numbers` (all of them,
/// or a sub-multiset with countdownAllowSubset) equal to `problem.target`
/// (checkCountdownAnswer).
RewardFn countdownReward(const RewardOptions &options = {});
/// Accuracy: the answer equals `problem.answer` once ASCII whitespace around
/// both is stripped; otherwise byte for byte (a JSONL task's string answers).
RewardFn exactAnswerReward(const RewardOptions &options = {});
/// Accuracy is always 0; for warming up the format alone.
RewardFn formatOnlyReward(const RewardOptions &options = {});

/// Reward functions by name.
class RewardRegistry {
public:
  /// Fails if the name is taken or the function is empty.
  absl::Status add(std::string name, RewardFn fn);
  /// Fails naming the registered names when `name` is not one.
  absl::StatusOr<RewardFn> find(std::string_view name) const;
  std::vector<std::string> names() const;

private:
  std::map<std::string, RewardFn, std::less<>> rewards;
};

/// "arithmetic", "countdown", "exact", "format_only" and "integer" (the
/// arithmetic reward under the name JSONL tasks give it), all with `options`.
absl::StatusOr<RewardRegistry>
defaultRewardRegistry(const RewardOptions &options = {});

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_REWARDS_H
