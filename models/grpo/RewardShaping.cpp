//===- RewardShaping.cpp - what GRPO adds to a completion's reward --------===//

#include "models/grpo/RewardShaping.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln::models {

double overlongPenalty(int64_t length, int64_t maxLength, int64_t bufferLength,
                       double penaltyFactor) {
  if (bufferLength <= 0)
    return 0;
  int64_t expected = maxLength - bufferLength;
  double exceed = static_cast<double>(length - expected);
  return std::min(-exceed / static_cast<double>(bufferLength) * penaltyFactor,
                  0.0);
}

absl::StatusOr<std::vector<double>>
sequenceKl(absl::Span<const float> logp, absl::Span<const float> refLogp,
           absl::Span<const float> mask, int64_t cols, KlEstimator estimator) {
  if (cols < 1 || logp.size() % cols != 0 || refLogp.size() != logp.size() ||
      mask.size() != logp.size())
    return absl::InvalidArgumentError(absl::StrCat(
        "sequenceKl: logp, refLogp and mask must be [rows, ", cols, "], got ",
        logp.size(), ", ", refLogp.size(), " and ", mask.size(), " values"));
  const int64_t rows = static_cast<int64_t>(logp.size()) / cols;
  std::vector<double> sums(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      int64_t k = r * cols + c;
      if (mask[k] == 0)
        continue;
      double d = static_cast<double>(refLogp[k]) - logp[k];
      if (!std::isfinite(d))
        return absl::InvalidArgumentError(
            absl::StrCat("sequenceKl: row ", r, " position ", c,
                         " has a non-finite log-probability"));
      sums[r] += mask[k] * klTerm(estimator, d);
    }
  return sums;
}

} // namespace kiln::models
