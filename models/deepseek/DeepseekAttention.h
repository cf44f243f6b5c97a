//===- DeepseekAttention.h - multi-head latent attention (MLA) -*- C++ -*-===//
//
// DeepSeek-V3's attention as transformers computes it: queries through a
// low-rank pair (or one q_proj), keys and values expanded from a compressed
// latent, and a rotary part shared by all heads.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKATTENTION_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKATTENTION_H

#include <optional>
#include <string>

#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

class MlaAttention {
public:
  /// State under `prefix` ("model.layers.{i}.self_attn").
  MlaAttention(Graph &graph, const DeepseekV3Config &config,
               const std::string &prefix, DType dtype, int64_t seed);

  /// x [B, S, H] -> [B, S, H]; cos and sin [S, rope_dim / 2] (already scaled
  /// by the rope attention factor); causal over positions 0..S-1.
  Tensor operator()(Function &fn, const Tensor &x, const Tensor &cos,
                    const Tensor &sin) const;

private:
  /// Applies transformers' rotary to [..., S, rope_dim]: with rope_interleave
  /// the dims arrive as pairs (x0, x1), (x2, x3)... and leave de-interleaved
  /// (rotated evens, then rotated odds), exactly as
  /// apply_rotary_pos_emb_interleave lays them out.
  Tensor rope(const Tensor &x, const Tensor &cos, const Tensor &sin) const;

  DeepseekV3Config config;
  std::optional<nn::Linear> qProj, qAProj, qBProj;
  std::optional<nn::RMSNorm> qANorm;
  nn::Linear kvAProj;
  nn::RMSNorm kvANorm;
  nn::Linear kvBProj, oProj;
};

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKATTENTION_H
