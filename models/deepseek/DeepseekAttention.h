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

  // The pieces of operator(), public so that inference graphs can cache the
  // latent and attend over it (models/deepseek/DeepseekInference.h). cos and
  // sin broadcast to [..., S, rope_dim / 2], so per-sequence positions work.

  /// Query heads of x [B, S, H]: the no-rope part [B, heads, S, nope] and the
  /// rotated part [B, heads, S, rope_dim].
  struct Queries {
    Tensor nope, rope;
  };
  Queries queries(Function &fn, const Tensor &x, const Tensor &cos,
                  const Tensor &sin) const;
  /// What MLA caches per token: the normed latent c_kv [B, S, kv_lora_rank]
  /// and the rotated shared key k_pe [B, S, rope_dim].
  struct Latent {
    Tensor kv, kRope;
  };
  Latent latent(Function &fn, const Tensor &x, const Tensor &cos,
                const Tensor &sin) const;
  /// Expands `kv` through kv_b_proj into per-head keys and values, attends
  /// with the model's softmax scale and `options` (scale is overridden), and
  /// applies o_proj: -> [B, Sq, H].
  Tensor attendExpanded(Function &fn, const Queries &q, const Latent &kv,
                        AttentionOptions options) const;

  const DeepseekV3Config &cfg() const { return config; }
  /// kv_b_proj: weight [heads * (nope + v_head_dim), kv_lora_rank].
  const nn::Linear &kvBProjection() const { return kvBProj; }
  const nn::Linear &outProjection() const { return oProj; }

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
