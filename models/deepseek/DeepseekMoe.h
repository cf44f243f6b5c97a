//===- DeepseekMoe.h - DeepSeek-V3 feed-forward: dense and MoE -*- C++ -*-===//
//
// The SiLU-gated MLP of the first layers and of the shared experts, and the
// MoE layer: sigmoid router with bias-corrected, group-limited top-k, and
// dropless routed experts run as grouped matmuls over expert-sorted rows.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKMOE_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKMOE_H

#include <optional>
#include <string>
#include <vector>

#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

/// down(silu(gate(x)) * up(x)), state `<prefix>.{gate,up,down}_proj.weight`.
class SwiGluMlp {
public:
  SwiGluMlp(Graph &graph, const std::string &prefix, int64_t hidden,
            int64_t inter, DType dtype, int64_t seed);
  Tensor operator()(Function &fn, const Tensor &x) const;

private:
  nn::Linear gate, up, down;
};

/// Which experts each token goes to, and with what weight.
struct Routing {
  Tensor experts; // [T, k] i64
  Tensor weights; // [T, k] f32: normalised, scaled by routed_scaling_factor
  Tensor scores;  // [T, E] f32 sigmoid affinities, without the bias
};

/// What one MoE forward routed: the inputs of load balancing (the bias
/// update, the sequence-wise balance loss) and of utilisation statistics.
struct MoeRoutingStats {
  Tensor experts; // [T, k] i64, T = B * S tokens in row-major order
  Tensor scores;  // [T, E] f32 sigmoid affinities, without the bias
  Tensor load;    // [E] f32 token->expert assignments per expert
};

class MoeLayer {
public:
  /// State under `prefix` ("model.layers.{i}.mlp"): gate.weight [E, H],
  /// gate.e_score_correction_bias [E] f32, experts.{gate,up}_proj [E, I, H],
  /// experts.down_proj [E, H, I], shared_experts.*.
  MoeLayer(Graph &graph, const DeepseekV3Config &config,
           const std::string &prefix, DType dtype, int64_t seed);

  /// x [B, S, H] -> [B, S, H].
  Tensor operator()(Function &fn, const Tensor &x) const;
  /// The same, also reporting the routing into `stats` (when not null).
  Tensor operator()(Function &fn, const Tensor &x,
                    MoeRoutingStats *stats) const;
  /// The router alone, on tokens [T, H].
  Routing route(Function &fn, const Tensor &tokens) const;

  /// gate.e_score_correction_bias: load balancing updates it, not AdamW.
  const State &correctionBias() const { return scoreBias; }
  /// The stacked experts.{gate,up,down}_proj state, in that order.
  std::vector<State> expertStates() const {
    return {expertGate, expertUp, expertDown};
  }

private:
  DeepseekV3Config config;
  DType dtype;
  State gateWeight, scoreBias, expertGate, expertUp, expertDown;
  std::optional<SwiGluMlp> shared;
};

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKMOE_H
