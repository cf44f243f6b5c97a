//===- PassAtK.cpp - the unbiased pass@k estimator ------------------------===//

#include "models/grpo/PassAtK.h"

#include "absl/strings/str_cat.h"

namespace kiln::models {

absl::StatusOr<double> passAtK(int64_t n, int64_t c, int64_t k) {
  if (c < 0 || c > n || k < 1 || k > n)
    return absl::InvalidArgumentError(
        absl::StrCat("pass@k needs 0 <= c <= n and 1 <= k <= n, got n = ", n,
                     ", c = ", c, ", k = ", k));
  if (n - c < k)
    return 1.0;
  double allWrong = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i)
    allWrong *= 1.0 - static_cast<double>(k) / static_cast<double>(i);
  return 1.0 - allWrong;
}

} // namespace kiln::models
