//===- Advantages.h - group-relative advantages of GRPO rewards -*- C++ -*-===//
//
// Host code (no executor): rewards of G completions per prompt become
// per-completion advantages, as TRL's GRPOTrainer computes them, plus the
// zero-variance groups that DAPO's dynamic sampling drops.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_ADVANTAGES_H
#define KILN_MODELS_GRPO_ADVANTAGES_H

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kiln::models {

/// TRL's `scale_rewards`: what (r - mean of the group) is divided by.
enum class ScaleRewards {
  /// The group's std + 1e-4 (TRL's default; also its `True`).
  group,
  /// The std of all rewards of the batch + 1e-4 (Dr. GRPO's critique of
  /// per-group scaling, kept as TRL's "batch").
  batch,
  /// Nothing (TRL's `False`): advantages are r - mean of the group.
  none,
};
/// "group", "batch", "none".
const char *scaleRewardsName(ScaleRewards scale);
/// Also accepts TRL's boolean spellings "true" (group) and "false" (none).
absl::StatusOr<ScaleRewards> parseScaleRewards(std::string_view name);

/// The epsilon TRL adds to the std.
inline constexpr double kAdvantageStdEps = 1e-4;

struct Advantages {
  /// One per reward, same order (group-major: prompt p's completions are
  /// entries [p*G, (p+1)*G)).
  std::vector<double> advantages;
  /// Per group: mean and std (unbiased, n - 1) of its rewards.
  std::vector<double> groupMean, groupStd;
  /// Per group: every reward equal, so every advantage is 0 and the group
  /// gives no learning signal (DAPO's dynamic sampling drops such groups).
  std::vector<bool> zeroVariance;
  /// The fraction of groups that are zero-variance (TRL's
  /// frac_reward_zero_std).
  double zeroVarianceFraction = 0;
  /// Unbiased std of every reward of the batch.
  double batchStd = 0;
};

/// The reward_std TRL logs, from the estimator the advantages divide by:
/// the mean of the groups' unbiased stds (scale group, and none, where TRL
/// logs the same), or the batch's unbiased std (scale batch).
double rewardStd(const Advantages &advantages, ScaleRewards scale);

/// `rewards` holds numPrompts * groupSize values, group-major. Conventions
/// (TRL's, which uses torch.std, the unbiased estimate):
///   mean_g = mean of the group, std_g = sqrt(sum (r - mean_g)^2 / (G - 1)),
///   group: A = (r - mean_g) / (std_g + 1e-4)
///   batch: A = (r - mean_g) / (std over all numPrompts*G rewards + 1e-4)
///   none:  A = r - mean_g
/// With one sample (G = 1, or a batch of one reward) the unbiased std is
/// undefined (torch gives NaN); here it is 0, so such a group's advantages
/// are 0 rather than NaN. Zero variance means exactly equal rewards (TRL
/// tests isclose(std, 0); rewards are usually discrete, and exact equality
/// is what makes every advantage exactly 0). Errors: groupSize < 1, a
/// length that is not a positive multiple of groupSize, a non-finite reward.
absl::StatusOr<Advantages> computeAdvantages(absl::Span<const double> rewards,
                                             int64_t groupSize,
                                             ScaleRewards scale);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_ADVANTAGES_H
