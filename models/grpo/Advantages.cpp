//===- Advantages.cpp - group-relative advantages of GRPO rewards ---------===//

#include "models/grpo/Advantages.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::models {

const char *scaleRewardsName(ScaleRewards scale) {
  switch (scale) {
  case ScaleRewards::group:
    return "group";
  case ScaleRewards::batch:
    return "batch";
  case ScaleRewards::none:
    return "none";
  }
  return "?";
}

absl::StatusOr<ScaleRewards> parseScaleRewards(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "group" || lower == "true")
    return ScaleRewards::group;
  if (lower == "batch")
    return ScaleRewards::batch;
  if (lower == "none" || lower == "false")
    return ScaleRewards::none;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scale_rewards '", std::string(name),
                   "' (expected group, batch or none)"));
}

namespace {

/// Unbiased (n - 1) std, 0 for fewer than two values (see the header).
double unbiasedStd(absl::Span<const double> values, double mean) {
  if (values.size() < 2)
    return 0;
  double squares = 0;
  for (double v : values)
    squares += (v - mean) * (v - mean);
  return std::sqrt(squares / static_cast<double>(values.size() - 1));
}

double meanOf(absl::Span<const double> values) {
  double total = 0;
  for (double v : values)
    total += v;
  return total / static_cast<double>(values.size());
}

} // namespace

absl::StatusOr<Advantages> computeAdvantages(absl::Span<const double> rewards,
                                             int64_t groupSize,
                                             ScaleRewards scale) {
  if (groupSize < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "computeAdvantages: groupSize must be >= 1, got ", groupSize));
  const int64_t n = static_cast<int64_t>(rewards.size());
  if (n == 0 || n % groupSize != 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "computeAdvantages: ", n, " rewards are not a positive multiple of ",
        "groupSize ", groupSize));
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(rewards[i]))
      return absl::InvalidArgumentError(
          absl::StrCat("computeAdvantages: reward ", i, " is ", rewards[i]));

  const int64_t groups = n / groupSize;
  Advantages result;
  result.advantages.resize(n);
  int64_t zeroGroups = 0;
  for (int64_t g = 0; g < groups; ++g) {
    absl::Span<const double> group = rewards.subspan(g * groupSize, groupSize);
    double mean = meanOf(group);
    result.groupMean.push_back(mean);
    result.groupStd.push_back(unbiasedStd(group, mean));
    bool allEqual = std::all_of(group.begin(), group.end(),
                                [&](double r) { return r == group[0]; });
    result.zeroVariance.push_back(allEqual);
    zeroGroups += allEqual;
  }
  result.zeroVarianceFraction =
      static_cast<double>(zeroGroups) / static_cast<double>(groups);

  double batchStd = unbiasedStd(rewards, meanOf(rewards));
  result.batchStd = batchStd;
  for (int64_t i = 0; i < n; ++i) {
    int64_t g = i / groupSize;
    double centred = rewards[i] - result.groupMean[g];
    // An all-equal group is exactly 0 even where rounding of its mean leaves
    // a tiny centred value that a 1e-4 std would blow up.
    if (result.zeroVariance[g])
      centred = 0;
    switch (scale) {
    case ScaleRewards::group:
      centred /= result.groupStd[g] + kAdvantageStdEps;
      break;
    case ScaleRewards::batch:
      centred /= batchStd + kAdvantageStdEps;
      break;
    case ScaleRewards::none:
      break;
    }
    result.advantages[i] = centred;
  }
  return result;
}

double rewardStd(const Advantages &advantages, ScaleRewards scale) {
  if (scale == ScaleRewards::batch || advantages.groupStd.empty())
    return advantages.batchStd;
  return meanOf(advantages.groupStd);
}

} // namespace kiln::models
