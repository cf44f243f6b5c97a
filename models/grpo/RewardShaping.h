//===- RewardShaping.h - what GRPO adds to a completion's reward -*- C++
//-*-===//
//
// Host code: DAPO's soft overlong punishment (verl's overlong_buffer) and the
// KL to the reference taken into the reward instead of the loss (verl's
// use_kl_in_reward), both applied to the rewards before advantages.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_REWARDSHAPING_H
#define KILN_MODELS_GRPO_REWARDSHAPING_H

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/grpo/KlEstimator.h"

namespace kiln::models {

/// DAPO's soft overlong punishment, as verl's DAPO reward manager computes
/// it: with expected = maxLength - bufferLength,
///   min(-(length - expected) / bufferLength * penaltyFactor, 0),
/// 0 up to `expected` tokens, falling linearly to -penaltyFactor at
/// maxLength. `length` counts the completion's tokens, its EOS included (as
/// verl's valid_response_length). bufferLength 0 turns it off (0 always).
double overlongPenalty(int64_t length, int64_t maxLength, int64_t bufferLength,
                       double penaltyFactor);

/// The KL of each row, summed over its mask: sum_t mask * kl(ref - logp)
/// with the chosen estimator, where logp are the rollout policy's
/// log-probabilities (verl's apply_kl_penalty, whose GRPO advantage sums the
/// token rewards). All three are [rows, cols] row-major; masked positions
/// may hold anything. Errors on mismatched sizes or a non-finite value at a
/// masked-in position.
absl::StatusOr<std::vector<double>>
sequenceKl(absl::Span<const float> logp, absl::Span<const float> refLogp,
           absl::Span<const float> mask, int64_t cols, KlEstimator estimator);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_REWARDSHAPING_H
