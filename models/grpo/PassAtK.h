//===- PassAtK.h - the unbiased pass@k estimator ----------------*- C++ -*-===//
//
// Host code for evaluating with several samples per problem: the estimator of
// Chen et al. 2021 (Codex), 1 - C(n - c, k) / C(n, k), from n samples of
// which c are correct.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_PASSATK_H
#define KILN_MODELS_GRPO_PASSATK_H

#include <cstdint>

#include "absl/status/statusor.h"

namespace kiln::models {

/// The probability that at least one of k samples drawn without replacement
/// from n, c of them correct, is correct: 1 - C(n - c, k) / C(n, k), computed
/// as the Codex paper's numerically stable product 1 - prod_{i = n - c +
/// 1}^{n} (1 - k / i) (1 when n - c < k). Needs 0 <= c <= n and 1 <= k <= n.
absl::StatusOr<double> passAtK(int64_t n, int64_t c, int64_t k);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_PASSATK_H
