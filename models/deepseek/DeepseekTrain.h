//===- DeepseekTrain.h - the DeepSeek-V3 train step ------------*- C++ -*-===//
//
// Next-token cross-entropy, grad, clipping, AdamW and DeepSeek-V3's MoE load
// balancing (bias update, optional sequence-wise loss), with chosen experts
// frozen, all in one compiled entry whose state the executor updates in place.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKTRAIN_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKTRAIN_H

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/optim/Optim.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

struct DeepseekTrainOptions {
  DeepseekV3Config model;
  DType dtype = DType::f32;
  int64_t seed = 0;
  int64_t batch = 2, seqLen = 8;

  optim::AdamWOptions adam;
  double peakLr = 1e-3, minLr = 1e-4;
  int64_t warmupSteps = 0, totalSteps = 1000;
  double clipNorm = 1.0;

  /// gamma: the bias update speed of auxiliary-loss-free balancing; 0 leaves
  /// every e_score_correction_bias as it is.
  double biasUpdateSpeed = 1e-3;
  /// alpha: the weight of the sequence-wise balance loss; 0 leaves it out.
  double balanceLossWeight = 0.0;

  /// (layer, expert) pairs whose weights never change. Their gradient rows are
  /// dropped before clipping, and a stack with frozen experts gets compact
  /// AdamW moments `<stack>.exp_avg[_sq]` of shape [trainable experts, ...]
  /// (no moments are stored for frozen experts; a fully frozen stack leaves
  /// the optimizer altogether). An f32 master copy, where the dtype needs one,
  /// stays full size: frozen rows cost 4 bytes per weight there, in exchange
  /// for replaceExpert and the init-master entry working unchanged.
  std::vector<std::pair<int64_t, int64_t>> frozenExperts;
};

/// Entries (inputs tokens, targets [B, S] i64 and mask [B, S] f32, 1 for
/// positions that count in the cross-entropy):
///  - "train_step": one update -> loss (cross-entropy + alpha * balance),
///    ce_loss, balance_loss (alpha included; 0 when alpha is 0), grad_norm
///    (before clipping), lr, and expertLoadName(l) for every MoE layer l (f32
///    [E]: assignments of the batch's B*S tokens, padding included, since
///    the router and the experts process those too). After the update, each
///    MoE layer's gate.e_score_correction_bias moves by balancedBias(), from
///    this step's load.
///  - "eval_loss": the same losses and loads with no update, plus, per MoE
///    layer l, "router_scores.<l>" [B*S, E] f32 and "router_experts.<l>"
///    [B*S, k] i64 (what the balance statistics are computed from).
///  - "grads": loss and "grad.<p>" for every optimized parameter (full
///    shape, frozen rows zero, unclipped).
/// Fails on a bad config, sizes or frozen pair.
absl::StatusOr<Graph>
buildDeepseekTrainGraph(const DeepseekTrainOptions &options);

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKTRAIN_H
