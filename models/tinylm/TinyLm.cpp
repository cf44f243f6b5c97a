//===- TinyLm.cpp - a small decoder-only transformer language model --------===//

#include "models/tinylm/TinyLm.h"

#include <cmath>
#include <string>

namespace kiln::models {

namespace {
std::string layerName(int64_t i, const char *part) {
  return "model.layers." + std::to_string(i) + "." + part;
}
} // namespace

TinyLm::TinyLm(Graph &graph, const TinyLmConfig &c)
    : graph(graph), config(c),
      embed(graph, "model.embed_tokens", c.vocab, c.dim, DType::f32, c.seed),
      finalNorm(graph, "model.norm", c.dim),
      head(graph, "lm_head", c.dim, c.vocab, false, DType::f32, c.seed + 1) {
  params.push_back(embed.weight());
  for (int64_t i = 0; i < c.layers; ++i) {
    int64_t s = c.seed + 100 * (i + 1);
    blocks.push_back(Block{
        nn::RMSNorm(graph, layerName(i, "input_layernorm"), c.dim),
        nn::RMSNorm(graph, layerName(i, "post_attention_layernorm"), c.dim),
        nn::Linear(graph, layerName(i, "self_attn.q_proj"), c.dim, c.dim, false,
                   DType::f32, s + 1),
        nn::Linear(graph, layerName(i, "self_attn.k_proj"), c.dim, c.dim, false,
                   DType::f32, s + 2),
        nn::Linear(graph, layerName(i, "self_attn.v_proj"), c.dim, c.dim, false,
                   DType::f32, s + 3),
        nn::Linear(graph, layerName(i, "self_attn.o_proj"), c.dim, c.dim, false,
                   DType::f32, s + 4),
        nn::Linear(graph, layerName(i, "mlp.gate_proj"), c.dim, c.mlpHidden, false,
                   DType::f32, s + 5),
        nn::Linear(graph, layerName(i, "mlp.up_proj"), c.dim, c.mlpHidden, false,
                   DType::f32, s + 6),
        nn::Linear(graph, layerName(i, "mlp.down_proj"), c.mlpHidden, c.dim, false,
                   DType::f32, s + 7)});
    const Block &b = blocks.back();
    for (const State &p : {b.attnNorm.weight(), b.wq.weight(), b.wk.weight(),
                           b.wv.weight(), b.wo.weight(), b.mlpNorm.weight(),
                           b.gate.weight(), b.up.weight(), b.down.weight()})
      params.push_back(p);
  }
  params.push_back(finalNorm.weight());
  params.push_back(head.weight());
}

Tensor TinyLm::block(Function &fn, const Block &b, const Tensor &x,
                     const Tensor &cos, const Tensor &sin) const {
  const TinyLmConfig &c = config;
  int64_t headDim = c.dim / c.heads;
  auto heads = [&](const Tensor &t) {
    // [B, S, D] -> [B, H, S, Dh]
    return transpose(reshape(t, {c.batch, c.seqLen, c.heads, headDim}), {0, 2, 1, 3});
  };
  Tensor h = b.attnNorm(fn, x);
  Tensor q = rotary(heads(b.wq(fn, h)), cos, sin);
  Tensor k = rotary(heads(b.wk(fn, h)), cos, sin);
  Tensor v = heads(b.wv(fn, h));
  AttentionOptions options;
  options.causal = true;
  Tensor attn = attention(q, k, v, options);
  Tensor merged = reshape(transpose(attn, {0, 2, 1, 3}), {c.batch, c.seqLen, c.dim});
  Tensor x1 = x + b.wo(fn, merged);
  Tensor m = b.mlpNorm(fn, x1);
  return x1 + b.down(fn, silu(b.gate(fn, m)) * b.up(fn, m));
}

Tensor TinyLm::logits(Function &fn, const Tensor &tokens) const {
  const TinyLmConfig &c = config;
  int64_t half = c.dim / c.heads / 2;
  std::vector<double> cosTable, sinTable;
  for (int64_t pos = 0; pos < c.seqLen; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      double theta = pos * std::pow(10000.0, -static_cast<double>(i) / half);
      cosTable.push_back(std::cos(theta));
      sinTable.push_back(std::sin(theta));
    }
  Tensor cos = constant(fn, cosTable, {c.seqLen, half}, DType::f32);
  Tensor sin = constant(fn, sinTable, {c.seqLen, half}, DType::f32);

  Tensor x = embed(fn, tokens);
  for (const Block &b : blocks) {
    if (c.remat) {
      Remat scope(graph);
      x = block(fn, b, x, cos, sin);
    } else {
      x = block(fn, b, x, cos, sin);
    }
  }
  return head(fn, finalNorm(fn, x));
}

Tensor TinyLm::loss(Function &fn, const Tensor &tokens, const Tensor &targets) const {
  return mean(crossEntropy(logits(fn, tokens), targets), {0, 1});
}

} // namespace kiln::models
