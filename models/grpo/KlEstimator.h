//===- KlEstimator.h - per-token estimators of KL(pi || pi_ref) -*- C++ -*-===//
//
// Host code shared by the graph loss (GrpoLoss.h) and the host side, which
// puts the KL into the reward when the configuration asks for it (verl's
// use_kl_in_reward).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_KLESTIMATOR_H
#define KILN_MODELS_GRPO_KLESTIMATOR_H

#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::models {

/// Schulman's estimators of KL(pi_theta || pi_ref) per token, with d = ref -
/// logp: k1 = -d, k2 = d^2 / 2, k3 = exp(d) - d - 1 (DeepSeekMath's and
/// TRL's; verl's low_var_kl). Each is >= 0 in expectation; k2 and k3 per
/// token too.
enum class KlEstimator { k1, k2, k3 };
/// "k1", "k2", "k3".
const char *klEstimatorName(KlEstimator estimator);
absl::StatusOr<KlEstimator> parseKlEstimator(std::string_view name);

/// The estimator's value at d = refLogp - logp.
double klTerm(KlEstimator estimator, double d);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_KLESTIMATOR_H
