//===- DeepseekAttention.cpp - multi-head latent attention (MLA)
//-----------===//

#include "models/deepseek/DeepseekAttention.h"

#include "models/deepseek/DeepseekRope.h"

namespace kiln::models {

namespace {

/// x[..., begin:end] along the last axis.
Tensor lastAxis(const Tensor &x, int64_t begin, int64_t end) {
  // After a sticky error x is invalid and its shape empty: stay a no-op.
  if (!x.valid())
    return x;
  Shape shape = x.shape();
  std::vector<int64_t> start(shape.size(), 0),
      limit(shape.begin(), shape.end());
  start.back() = begin;
  limit.back() = end;
  return slice(x, start, limit);
}

} // namespace

MlaAttention::MlaAttention(Graph &graph, const DeepseekV3Config &c,
                           const std::string &prefix, DType dtype, int64_t seed)
    : config(c),
      kvAProj(graph, prefix + ".kv_a_proj_with_mqa", c.hiddenSize,
              c.kvLoraRank + c.qkRopeHeadDim, false, dtype, seed + 4),
      // transformers builds the latent norms with the default eps (1e-6), not
      // rms_norm_eps.
      kvANorm(graph, prefix + ".kv_a_layernorm", c.kvLoraRank, 1e-6, dtype),
      kvBProj(graph, prefix + ".kv_b_proj", c.kvLoraRank,
              c.numAttentionHeads * (c.qkNopeHeadDim + c.vHeadDim), false,
              dtype, seed + 5),
      oProj(graph, prefix + ".o_proj", c.numAttentionHeads * c.vHeadDim,
            c.hiddenSize, false, dtype, seed + 6) {
  int64_t qOut = c.numAttentionHeads * c.qkHeadDim();
  if (c.qLoraRank) {
    qAProj.emplace(graph, prefix + ".q_a_proj", c.hiddenSize, *c.qLoraRank,
                   false, dtype, seed + 1);
    qANorm.emplace(graph, prefix + ".q_a_layernorm", *c.qLoraRank, 1e-6, dtype);
    qBProj.emplace(graph, prefix + ".q_b_proj", *c.qLoraRank, qOut, false,
                   dtype, seed + 2);
  } else {
    qProj.emplace(graph, prefix + ".q_proj", c.hiddenSize, qOut, false, dtype,
                  seed + 3);
  }
}

Tensor MlaAttention::rope(const Tensor &x, const Tensor &cos,
                          const Tensor &sin) const {
  if (!config.ropeInterleave)
    return rotary(x, cos, sin, /*interleaved=*/false);
  // Pairs (x[2i], x[2i+1]) rotate by frequency i, and transformers writes the
  // result as [rotated evens, rotated odds]: de-interleave first, then the
  // half-split rotation pairs (x[i], x[i + D/2]) — the same pairs.
  if (!x.valid()) // after a sticky error: a no-op, as every op is
    return x;
  Shape shape = x.shape();
  int64_t d = shape.back();
  Shape pairs(shape.begin(), shape.end());
  pairs.back() = d / 2;
  pairs.push_back(2);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i + 2 < static_cast<int64_t>(pairs.size()); ++i)
    perm.push_back(i);
  perm.push_back(static_cast<int64_t>(pairs.size()) - 1);
  perm.push_back(static_cast<int64_t>(pairs.size()) - 2);
  Tensor split = reshape(transpose(reshape(x, pairs), perm), shape);
  return rotary(split, cos, sin, /*interleaved=*/false);
}

MlaAttention::Queries MlaAttention::queries(Function &fn, const Tensor &x,
                                            const Tensor &cos,
                                            const Tensor &sin) const {
  const DeepseekV3Config &c = config;
  int64_t b = x.dim(0), s = x.dim(1), nope = c.qkNopeHeadDim;
  Tensor q = c.qLoraRank ? (*qBProj)(fn, (*qANorm)(fn, (*qAProj)(fn, x)))
                         : (*qProj)(fn, x);
  q = transpose(reshape(q, {b, s, c.numAttentionHeads, c.qkHeadDim()}),
                {0, 2, 1, 3});
  return {lastAxis(q, 0, nope),
          rope(lastAxis(q, nope, nope + c.qkRopeHeadDim), cos, sin)};
}

MlaAttention::Latent MlaAttention::latent(Function &fn, const Tensor &x,
                                          const Tensor &cos,
                                          const Tensor &sin) const {
  const DeepseekV3Config &c = config;
  int64_t b = x.dim(0), s = x.dim(1), ropeDim = c.qkRopeHeadDim;
  Tensor compressed = kvAProj(fn, x);
  Tensor kvLatent = kvANorm(fn, lastAxis(compressed, 0, c.kvLoraRank));
  Tensor kRot =
      reshape(lastAxis(compressed, c.kvLoraRank, c.kvLoraRank + ropeDim),
              {b, 1, s, ropeDim});
  return {kvLatent, reshape(rope(kRot, cos, sin), {b, s, ropeDim})};
}

Tensor MlaAttention::attendExpanded(Function &fn, const Queries &q,
                                    const Latent &kv,
                                    AttentionOptions options) const {
  const DeepseekV3Config &c = config;
  int64_t b = kv.kv.dim(0), s = kv.kv.dim(1), heads = c.numAttentionHeads;
  int64_t nope = c.qkNopeHeadDim, ropeDim = c.qkRopeHeadDim, vDim = c.vHeadDim;
  int64_t sq = q.nope.dim(2);
  Tensor kRot = broadcastTo(reshape(kv.kRope, {b, 1, s, ropeDim}),
                            {b, heads, s, ropeDim});
  Tensor expanded = transpose(
      reshape(kvBProj(fn, kv.kv), {b, s, heads, nope + vDim}), {0, 2, 1, 3});
  Tensor kNope = lastAxis(expanded, 0, nope);
  Tensor v = lastAxis(expanded, nope, nope + vDim);

  Tensor query = concat({q.nope, q.rope}, -1);
  Tensor key = concat({kNope, kRot}, -1);
  options.scale = attentionSoftmaxScale(c);
  Tensor out = attention(query, key, v, options); // [B, heads, Sq, vDim]
  out = reshape(transpose(out, {0, 2, 1, 3}), {b, sq, heads * vDim});
  return oProj(fn, out);
}

Tensor MlaAttention::operator()(Function &fn, const Tensor &x,
                                const Tensor &cos, const Tensor &sin) const {
  AttentionOptions options;
  options.causal = true;
  return attendExpanded(fn, queries(fn, x, cos, sin), latent(fn, x, cos, sin),
                        options);
}

} // namespace kiln::models
