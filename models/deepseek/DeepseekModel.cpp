//===- DeepseekModel.cpp - the DeepSeek-V3 causal language model
//-----------===//

#include "models/deepseek/DeepseekModel.h"

#include <string>

#include "models/deepseek/DeepseekRope.h"

namespace kiln::models {

DeepseekV3Model::DeepseekV3Model(Graph &graph, const DeepseekV3Config &c,
                                 DType dtype, int64_t seed)
    : cfg(c), dtype(dtype), embed(graph, "model.embed_tokens", c.vocabSize,
                                  c.hiddenSize, dtype, seed),
      finalNorm(graph, "model.norm", c.hiddenSize, c.rmsNormEps, dtype) {
  for (int64_t i = 0; i < c.numHiddenLayers; ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    int64_t s = seed + 1000 * (i + 1);
    auto layer = std::unique_ptr<Layer>(
        new Layer{nn::RMSNorm(graph, p + "input_layernorm", c.hiddenSize,
                              c.rmsNormEps, dtype),
                  nn::RMSNorm(graph, p + "post_attention_layernorm",
                              c.hiddenSize, c.rmsNormEps, dtype),
                  MlaAttention(graph, c, p + "self_attn", dtype, s),
                  std::nullopt, std::nullopt});
    if (c.isMoeLayer(i))
      layer->moe.emplace(graph, c, p + "mlp", dtype, s + 100);
    else
      layer->dense.emplace(graph, p + "mlp", c.hiddenSize, c.intermediateSize,
                           dtype, s + 100);
    layers.push_back(std::move(layer));
  }
  if (!c.tieWordEmbeddings)
    lmHead.emplace(graph, "lm_head", c.hiddenSize, c.vocabSize, false, dtype,
                   seed + 1);
}

Tensor DeepseekV3Model::hidden(Function &fn, const Tensor &inputIds) const {
  int64_t s = inputIds.dim(1);
  RopeTables tables = ropeTables(cfg, s);
  int64_t half = cfg.qkRopeHeadDim / 2;
  // transformers casts cos/sin to the activations' dtype.
  Tensor cos = constant(fn, tables.cos, {s, half}, dtype);
  Tensor sin = constant(fn, tables.sin, {s, half}, dtype);
  return hiddenImpl(
      fn, inputIds,
      [&](int64_t, const MlaAttention &attention, const Tensor &normed) {
        return attention(fn, normed, cos, sin);
      },
      nullptr);
}

Tensor DeepseekV3Model::hidden(Function &fn, const Tensor &inputIds,
                               std::vector<MoeRoutingStats> &routing) const {
  int64_t s = inputIds.dim(1);
  RopeTables tables = ropeTables(cfg, s);
  int64_t half = cfg.qkRopeHeadDim / 2;
  Tensor cos = constant(fn, tables.cos, {s, half}, dtype);
  Tensor sin = constant(fn, tables.sin, {s, half}, dtype);
  return hiddenImpl(
      fn, inputIds,
      [&](int64_t, const MlaAttention &attention, const Tensor &normed) {
        return attention(fn, normed, cos, sin);
      },
      &routing);
}

Tensor DeepseekV3Model::hidden(Function &fn, const Tensor &inputIds,
                               const AttendFn &attend) const {
  return hiddenImpl(fn, inputIds, attend, nullptr);
}

Tensor DeepseekV3Model::hiddenImpl(
    Function &fn, const Tensor &inputIds, const AttendFn &attend,
    std::vector<MoeRoutingStats> *routing) const {
  Tensor x = embed(fn, inputIds);
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer &layer = *layers[i];
    x = x + attend(static_cast<int64_t>(i), layer.attention,
                   layer.inputNorm(fn, x));
    Tensor m = layer.postAttentionNorm(fn, x);
    if (layer.moe) {
      MoeRoutingStats stats;
      x = x + (*layer.moe)(fn, m, routing ? &stats : nullptr);
      if (routing)
        routing->push_back(stats);
    } else {
      x = x + (*layer.dense)(fn, m);
    }
  }
  return finalNorm(fn, x);
}

const MoeLayer *DeepseekV3Model::moe(int64_t layer) const {
  if (layer < 0 || layer >= static_cast<int64_t>(layers.size()) ||
      !layers[layer]->moe)
    return nullptr;
  return &*layers[layer]->moe;
}

Tensor DeepseekV3Model::head(Function &fn, const Tensor &h) const {
  if (lmHead)
    return (*lmHead)(fn, h);
  return matmul(h, fn.read(embed.weight()), false, /*transposeB=*/true);
}

Tensor DeepseekV3Model::logits(Function &fn, const Tensor &inputIds) const {
  return head(fn, hidden(fn, inputIds));
}

} // namespace kiln::models
