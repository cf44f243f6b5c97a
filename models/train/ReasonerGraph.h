//===- ReasonerGraph.h - every entry kiln-train compiles for its policy -*- C++ -*-===//
//
// One graph holds the policy (a small DeepSeek-V3-architecture MoE model) and
// every computation training runs on it: the supervised step, per-token log
// probabilities, the GRPO step, and the prefill/decode rollout entries. They
// share the parameters and AdamW state, so one executor serves both phases.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_REASONERGRAPH_H
#define KILN_MODELS_TRAIN_REASONERGRAPH_H

#include <string>

#include "frontend/Graph.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/train/PolicyConfig.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// The state holding the frozen reference copy of `parameter` (grpo.beta > 0).
std::string referenceName(const std::string &parameter);

/// Entries: "sft_step" (tokens, targets, mask [B, S]; lr) -> loss, grad_norm;
/// "logprobs" (tokens, targets [G, S]) -> logp [G, S]; "grpo_step" (tokens,
/// targets, mask, old_logp [G, S], advantages [G], lr, total_tokens, and
/// ref_logp [G, S] when beta > 0) -> loss and the GRPO metrics; "prefill" and
/// "decode" for rollouts and evaluation; "reset_optimizer" () zeroing the
/// AdamW moments and step count. Every GRPO log-probability is of logits /
/// grpo.temperature; rollouts take a min_p input. With grpo.beta > 0 only,
/// also "snapshot_reference" () copying every parameter into its
/// referenceName state, "sync_reference" (alpha) making each copy alpha *
/// parameter + (1 - alpha) * copy, and "ref_logprobs" (tokens, targets) ->
/// logp under those copies; grpo_step takes ref_logp unless
/// grpo.kl_in_reward. With grpo.gradient_accumulation_steps = N > 1, also
/// "grpo_advantages" (rewards, row_valid [G]) -> advantages [G], and over
/// micro-batches of G / N rows (advantages instead of rewards, plus a
/// loss_scale multiplying the loss) "grpo_accumulate", adding the gradient
/// to a buffer, and "grpo_micro_step" (with lr), adding the last one and
/// stepping AdamW with the buffers' mean.
/// With shapes.expertParallel N > 1 every MoE layer's stacked experts, their
/// AdamW moments and reference copies are sharded over the N ranks
/// (Graph::shardOverExperts), and the gradient clip sums the experts'
/// squares over the ranks.
absl::StatusOr<Graph> buildReasonerGraph(const TrainConfig &config,
                                         const ReasonerShapes &shapes);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_REASONERGRAPH_H
