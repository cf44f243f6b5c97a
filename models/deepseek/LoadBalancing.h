//===- LoadBalancing.h - DeepSeek-V3 MoE load balancing ---------*- C++ -*-===//
//
// Auxiliary-loss-free balancing (a per-expert bias nudged toward equal load
// after each step) and the optional sequence-wise balance loss of the
// DeepSeek-V3 paper (eqs. 17-20), built from one MoE layer's routing.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_LOADBALANCING_H
#define KILN_MODELS_DEEPSEEK_LOADBALANCING_H

#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/deepseek/DeepseekMoe.h"

namespace kiln::models {

/// bias + gamma * sign(mean(load) - load), f32 [E]: overloaded experts'
/// bias falls by exactly gamma, underloaded ones' rises by gamma, and an
/// expert at the mean keeps its bias. The bias only steers selection, so
/// this is its only update (it takes no gradient).
Tensor balancedBias(Function &fn, const Tensor &bias, const Tensor &load,
                    double gamma);

/// The sequence-wise balance loss of one MoE layer, without alpha, averaged
/// over the batch's sequences:
///   f_i = E / (k * S) * #{t in the sequence routed to i}
///   P_i = 1/S * sum_t s_{i,t} / sum_j s_{j,t}   (s the sigmoid affinities)
///   L = mean_b sum_i f_i P_i
/// f is a count of discrete choices, so the gradient flows through P only.
/// `routing` holds batch * seqLen tokens in row-major [B, S] order.
Tensor sequenceBalanceLoss(Function &fn, const DeepseekV3Config &config,
                           const MoeRoutingStats &routing, int64_t batch,
                           int64_t seqLen);

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_LOADBALANCING_H
