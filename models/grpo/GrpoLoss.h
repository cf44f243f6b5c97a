//===- GrpoLoss.h - the GRPO clipped objective as graph code ----*- C++ -*-===//
//
// The policy-gradient loss of a GRPO step (TRL's GRPOTrainer, with DAPO's
// clip-higher and the grpo/bnpo/dr_grpo/dapo aggregations) and its metrics.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_GRPOLOSS_H
#define KILN_MODELS_GRPO_GRPOLOSS_H

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/Tensor.h"
#include "models/grpo/KlEstimator.h"

namespace kiln::models {

/// How per-token losses become one scalar (TRL's `loss_type`).
enum class LossType {
  /// Mean over each sequence's tokens, then mean over the B sequences.
  grpo,
  /// Sum over all tokens / number of tokens in this (local) batch.
  bnpo,
  /// Sum over all tokens / (B * maxCompletionLength), a constant (Dr. GRPO).
  drGrpo,
  /// Sum over all tokens / totalTokens, an input: the token count of the whole
  /// global batch, so micro-batch gradients add up to the exact token mean.
  dapo,
};
/// "grpo", "bnpo", "dr_grpo", "dapo" (TRL's spellings).
const char *lossTypeName(LossType type);
absl::StatusOr<LossType> parseLossType(std::string_view name);

/// What the clipped importance ratio is taken over (TRL's
/// `importance_sampling_level`).
enum class ImportanceSamplingLevel {
  /// One ratio per token, exp(logp - oldLogp) (GRPO, PPO).
  token,
  /// One ratio per sequence, exp of the mean over its valid tokens of
  /// logp - oldLogp, shared by all of its tokens (GSPO).
  sequence,
};
/// "token", "sequence".
const char *importanceSamplingLevelName(ImportanceSamplingLevel level);
absl::StatusOr<ImportanceSamplingLevel>
parseImportanceSamplingLevel(std::string_view name);

struct GrpoLossOptions {
  /// The ratio is clipped to [1 - epsLow, 1 + epsHigh]; epsHigh > epsLow is
  /// DAPO's clip-higher.
  double epsLow = 0.2;
  double epsHigh = 0.2;
  /// Weight of the k3 KL to the reference policy; 0 (TRL's default) uses no
  /// reference at all.
  double beta = 0.0;
  /// The per-token KL term beta weighs (and the "kl" metric).
  KlEstimator klEstimator = KlEstimator::k3;
  /// Token ratios, or GSPO's one ratio per sequence.
  ImportanceSamplingLevel importanceSamplingLevel =
      ImportanceSamplingLevel::token;
  /// verl's entropy_coeff: each token's loss gets -entropyCoeff * H(token)
  /// (an entropy bonus, aggregated by lossType as the rest). Needs logits;
  /// 0 lets no gradient through the entropy.
  double entropyCoeff = 0.0;
  /// TRL's default.
  LossType lossType = LossType::dapo;
  /// dr_grpo's constant (the configured max completion length, not the padded
  /// T of this batch); 0 means T.
  int64_t maxCompletionLength = 0;
};

/// The tensors of one loss; every [B, T] and [B] input must be float, and all
/// must live in one function. The math runs in f32 (f64 for f64 `logp`).
struct GrpoLossInputs {
  /// log pi_theta(token) of the policy being trained, [B, T] (kiln
  /// tokenLogprobs of the logits): the loss is differentiated through it.
  Tensor logp;
  /// log pi_old(token) recorded at rollout time, [B, T]; constants here.
  Tensor oldLogp;
  /// One advantage per sequence, [B] (see Advantages.h).
  Tensor advantages;
  /// [B, T], 1 for completion tokens that count and 0 for prompt, padding and
  /// masked (e.g. truncated) completions. Masked positions may hold anything
  /// in the log-prob inputs (even inf): they are replaced before any math.
  Tensor mask;
  /// log pi_ref(token), [B, T]. Required when beta != 0 and refused when beta
  /// == 0, so a beta = 0 graph never asks the caller for a reference pass.
  std::optional<Tensor> refLogp;
  /// dapo only (refused otherwise): a float scalar, the normaliser of the
  /// token sum. Pass the completion-token count of everything whose gradients
  /// are summed, divided by the number of gradient terms that are then
  /// averaged (GradAccumulator::takeMean's micro-batches, data-parallel
  /// replicas), as TRL passes num_items_in_batch / num_processes.
  std::optional<Tensor> totalTokens;
  /// [B, T, V] logits of the policy, for the entropy metric (and, with
  /// entropyCoeff != 0, the entropy bonus; otherwise no gradient flows into
  /// the loss through it). Tempered rollouts pass logits / temperature, the
  /// distribution that sampled.
  std::optional<Tensor> logits;
  /// [B], 1 for rows that hold a completion and 0 for padding rows of a
  /// batch the caller could not fill (their mask must be 0). grpo's mean over
  /// sequences and dr_grpo's B * maxCompletionLength count only the rows that
  /// exist, as in TRL, whose batches have no padding; without it every row
  /// counts.
  std::optional<Tensor> rowValid;
};

/// The loss and TRL's logged metrics, each a scalar of the math dtype. Token
/// metrics are means over this batch's mask; with no valid token they are 0
/// (TRL divides by zero there).
struct GrpoLossOutputs {
  Tensor loss;
  /// Mean KL (options.klEstimator); invalid when beta == 0.
  Tensor meanKl;
  /// Fraction of tokens with ratio < 1 - epsLow and advantage < 0: the
  /// clipped term is the min and the token gets no gradient.
  Tensor lowClipFraction;
  /// Same for ratio > 1 + epsHigh and advantage > 0.
  Tensor highClipFraction;
  /// Either of the two.
  Tensor clipFraction;
  /// Mean of exp(logp - oldLogp).
  Tensor meanRatio;
  /// Mean per-token entropy of softmax(logits); invalid without logits.
  Tensor entropy;

  /// The valid metrics under TRL's log names ("kl", "clip_ratio/low_mean",
  /// "clip_ratio/high_mean", "clip_ratio/region_mean", "ratio_mean",
  /// "entropy"), loss first as "loss": ready for Function::output.
  std::vector<std::pair<std::string, Tensor>> named() const;
};

/// Per token, r = exp(logp - oldLogp) (sequence level: r = exp(sum of
/// mask * (logp - oldLogp) over the row / max(its mask sum, 1)), the same for
/// each of its tokens) and
///   l = -min(r * A, clip(r, 1 - epsLow, 1 + epsHigh) * A)
///       + beta * kl(ref - logp)      (k3: exp(d) - d - 1; see KlEstimator)
///       - entropyCoeff * H(softmax(logits)),
/// aggregated over mask-weighted tokens by options.lossType (B there is the
/// number of valid rows when rowValid is given). Denominators
/// that count tokens are clamped to at least 1, as TRL's clamp(min=1): a
/// sequence with no valid token adds 0 to the loss (and still counts as one
/// of grpo's B sequences) and gets zero gradient, never NaN. Bad inputs
/// (shapes, a missing or unexpected optional input) record the graph's
/// sticky error and leave the outputs invalid.
GrpoLossOutputs grpoLoss(const GrpoLossInputs &inputs,
                         const GrpoLossOptions &options,
                         SourceLoc loc = SourceLoc::current());

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_GRPOLOSS_H
