//===- DeepseekMoe.cpp - DeepSeek-V3 feed-forward: dense and MoE
//-----------===//
//
// Routing follows transformers 5.17's DeepseekV3TopkRouter step for step; the
// experts are dropless (every chosen token-expert pair is computed) and no
// pass touches an expert a token did not choose.
//
//===----------------------------------------------------------------------===//

#include "models/deepseek/DeepseekMoe.h"

#include <cmath>
#include <limits>

namespace kiln::models {

SwiGluMlp::SwiGluMlp(Graph &graph, const std::string &prefix, int64_t hidden,
                     int64_t inter, DType dtype, int64_t seed)
    : gate(graph, prefix + ".gate_proj", hidden, inter, false, dtype, seed),
      up(graph, prefix + ".up_proj", hidden, inter, false, dtype, seed + 1),
      down(graph, prefix + ".down_proj", inter, hidden, false, dtype,
           seed + 2) {}

Tensor SwiGluMlp::operator()(Function &fn, const Tensor &x) const {
  return down(fn, silu(gate(fn, x)) * up(fn, x));
}

MoeLayer::MoeLayer(Graph &graph, const DeepseekV3Config &c,
                   const std::string &prefix, DType dtype, int64_t seed)
    : config(c), dtype(dtype) {
  int64_t e = c.nRoutedExperts, h = c.hiddenSize, i = c.moeIntermediateSize;
  auto uniform = [&](int64_t fanIn, int64_t s) {
    double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
    return init::uniform(-bound, bound, s);
  };
  gateWeight =
      graph.parameter(prefix + ".gate.weight", {e, h}, dtype, uniform(h, seed));
  // A buffer in transformers (updated by load balancing, not by gradients).
  scoreBias = graph.state(prefix + ".gate.e_score_correction_bias", {e},
                          DType::f32, init::zeros(), StateKind::other);
  expertGate = graph.parameter(prefix + ".experts.gate_proj", {e, i, h}, dtype,
                               uniform(h, seed + 1));
  expertUp = graph.parameter(prefix + ".experts.up_proj", {e, i, h}, dtype,
                             uniform(h, seed + 2));
  expertDown = graph.parameter(prefix + ".experts.down_proj", {e, h, i}, dtype,
                               uniform(i, seed + 3));
  if (c.nSharedExperts > 0)
    shared.emplace(graph, prefix + ".shared_experts", h, i * c.nSharedExperts,
                   dtype, seed + 4);
}

Routing MoeLayer::route(Function &fn, const Tensor &tokens) const {
  const DeepseekV3Config &c = config;
  int64_t t = tokens.dim(0), e = c.nRoutedExperts, g = c.nGroup;
  // transformers scores in f32 whatever the model dtype.
  Tensor x = tokens.dtype() == DType::f32 ? tokens : cast(tokens, DType::f32);
  Tensor w = fn.read(gateWeight);
  if (w.dtype() != DType::f32)
    w = cast(w, DType::f32);
  Tensor scores = sigmoid(matmul(x, w, false, /*transposeB=*/true)); // [T, E]
  // The correction bias steers which experts are chosen, never their weights.
  Tensor choice = scores + fn.read(scoreBias);
  Tensor groupScores =
      sum(topk(reshape(choice, {t, g, e / g}), 2).first, {-1});   // [T, G]
  Tensor keptGroups = topk(groupScores, c.topkGroup).second;      // [T, tg]
  Tensor groupMask = sum(oneHot(keptGroups, g, DType::f32), {1}); // [T, G]
  Tensor expertMask = reshape(
      broadcastTo(reshape(groupMask, {t, g, 1}), {t, g, e / g}), {t, e});
  Tensor masked =
      select(expertMask > 0.5, choice,
             scalar(fn, -std::numeric_limits<double>::infinity(), DType::f32));
  Tensor experts = topk(masked, c.numExpertsPerTok).second; // [T, k]
  Tensor weights = takeAlongAxis(scores, experts, 1);
  if (c.normTopkProb)
    weights = weights / (sum(weights, {-1}, /*keepdims=*/true) + 1e-20);
  weights = weights * c.routedScalingFactor;
  return {experts, weights, scores};
}

Tensor MoeLayer::operator()(Function &fn, const Tensor &x) const {
  return (*this)(fn, x, nullptr);
}

Tensor MoeLayer::operator()(Function &fn, const Tensor &x,
                            MoeRoutingStats *stats) const {
  const DeepseekV3Config &c = config;
  int64_t b = x.dim(0), s = x.dim(1), h = c.hiddenSize;
  int64_t t = b * s, k = c.numExpertsPerTok, pairs = t * k;
  Tensor tokens = reshape(x, {t, h});
  Routing r = route(fn, tokens);

  // Dropless dispatch: sort the token-expert pairs by expert (stable, so a
  // token's rows keep their order), run each expert on its contiguous rows,
  // and add the weighted rows back. Pairs land in ascending expert order, the
  // order transformers' per-expert loop accumulates them in.
  Tensor flatExperts = reshape(r.experts, {pairs});
  Tensor order = argsort(flatExperts, 0);
  Tensor tokenOf = order / static_cast<double>(k);
  Tensor counts = bincount(flatExperts, c.nRoutedExperts);
  Tensor offsets = cumsum(counts, 0);
  if (stats)
    *stats = {r.experts, r.scores, cast(counts, DType::f32)};
  Tensor rows = gather(tokens, tokenOf, 0); // [pairs, H]
  Tensor gateRows = groupedMatmul(rows, fn.read(expertGate), offsets, true);
  Tensor upRows = groupedMatmul(rows, fn.read(expertUp), offsets, true);
  Tensor outRows = groupedMatmul(silu(gateRows) * upRows, fn.read(expertDown),
                                 offsets, true);
  Tensor rowWeights = gather(reshape(r.weights, {pairs}), order, 0);
  if (dtype != DType::f32)
    rowWeights = cast(rowWeights, dtype);
  outRows = outRows * reshape(rowWeights, {pairs, 1});
  Tensor routed = scatterAdd(zeros(fn, {t, h}, dtype), tokenOf, outRows, 0);
  Tensor y = reshape(routed, {b, s, h});
  if (shared)
    y = y + (*shared)(fn, x);
  return y;
}

} // namespace kiln::models
