//===- LoadBalancing.cpp - DeepSeek-V3's MoE load balancing as graph code -===//

#include "models/deepseek/LoadBalancing.h"

namespace kiln::models {

Tensor balancedBias(Function &fn, const Tensor &bias, const Tensor &load,
                    double gamma) {
  // sign() of an exact difference of small integer counts (in f32) is exact,
  // so the step is exactly +-gamma (or 0 at the mean).
  Tensor meanLoad = mean(load, {0}, /*keepdims=*/true);
  return bias + sign(meanLoad - load) * scalar(fn, gamma, DType::f32);
}

Tensor sequenceBalanceLoss(Function &fn, const DeepseekV3Config &c,
                           const MoeRoutingStats &routing, int64_t batch,
                           int64_t seqLen) {
  int64_t e = c.nRoutedExperts, k = c.numExpertsPerTok;
  // Assignments per sequence and expert: integer-valued, no gradient.
  Tensor chosen = sum(oneHot(routing.experts, e, DType::f32), {1}); // [T, E]
  Tensor counts = sum(reshape(chosen, {batch, seqLen, e}), {1});    // [B, E]
  Tensor f =
      counts * (static_cast<double>(e) / static_cast<double>(k * seqLen));
  Tensor normalised =
      routing.scores / sum(routing.scores, {-1}, /*keepdims=*/true);
  Tensor p = mean(reshape(normalised, {batch, seqLen, e}), {1}); // [B, E]
  return mean(sum(f * p, {1}), {0});
}

} // namespace kiln::models
