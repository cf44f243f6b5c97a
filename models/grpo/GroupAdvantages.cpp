//===- GroupAdvantages.cpp - GRPO advantages as a graph computation --------===//

#include "models/grpo/GroupAdvantages.h"

namespace kiln::models {

Tensor groupAdvantages(const Tensor &rewards, const Tensor &valid,
                       int64_t groupSize, ScaleRewards scale, int64_t ranks,
                       SourceLoc loc) {
  int64_t rows = rewards.dim(0, loc), groups = rows / std::max<int64_t>(groupSize, 1);
  Tensor r = reshape(rewards, {groups, groupSize}, loc);
  Tensor centered = r - mean(r, {1}, /*keepdims=*/true, loc);
  Tensor adv = centered;
  const double eps = kAdvantageStdEps;
  if (scale == ScaleRewards::group) {
    // Unbiased std of each group (torch.std, as TRL uses).
    Tensor var = sum(centered * centered, {1}, true, loc) / static_cast<double>(groupSize - 1);
    adv = centered / (sqrt(var, loc) + eps);
  } else if (scale == ScaleRewards::batch) {
    // Unbiased std over every valid row of the batch, on every rank's rows.
    auto overRanks = [&](const Tensor &t) {
      return ranks > 1 ? allReduce(t, "sum", ranks, loc) : t;
    };
    Tensor n = overRanks(sum(valid, {0}, false, loc));
    Tensor mu =
        overRanks(sum(rewards * valid, {0}, false, loc)) / maximum(n, 1.0);
    Tensor dev = (rewards - mu) * valid;
    Tensor var =
        overRanks(sum(dev * dev, {0}, false, loc)) / maximum(n - 1.0, 1.0);
    adv = centered / (sqrt(var, loc) + eps);
  }
  // A group whose rewards are all equal carries no signal: exactly zero, not the
  // rounding noise of r - mean.
  Tensor flat = equal(max(r, {1}, true, loc), min(r, {1}, true, loc), loc);
  adv = select(flat, zeros(*rewards.function(), {groups, groupSize}, DType::f32, loc), adv, loc);
  return reshape(adv, {rows}, loc) * valid;
}

} // namespace kiln::models
