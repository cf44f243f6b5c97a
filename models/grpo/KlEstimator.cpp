//===- KlEstimator.cpp - per-token estimators of KL(pi || pi_ref) ---------===//

#include "models/grpo/KlEstimator.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::models {

const char *klEstimatorName(KlEstimator estimator) {
  switch (estimator) {
  case KlEstimator::k1:
    return "k1";
  case KlEstimator::k2:
    return "k2";
  case KlEstimator::k3:
    return "k3";
  }
  return "?";
}

absl::StatusOr<KlEstimator> parseKlEstimator(std::string_view name) {
  for (KlEstimator e : {KlEstimator::k1, KlEstimator::k2, KlEstimator::k3})
    if (name == klEstimatorName(e))
      return e;
  return absl::InvalidArgumentError(absl::StrCat("unknown KL estimator '",
                                                 std::string(name),
                                                 "' (expected k1, k2 or k3)"));
}

double klTerm(KlEstimator estimator, double d) {
  switch (estimator) {
  case KlEstimator::k1:
    return -d;
  case KlEstimator::k2:
    return 0.5 * d * d;
  case KlEstimator::k3:
    return std::exp(d) - d - 1;
  }
  return 0;
}

} // namespace kiln::models
