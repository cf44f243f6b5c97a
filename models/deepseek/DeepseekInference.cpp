//===- DeepseekInference.cpp - prefill/decode graphs, MLA cache -----------===//
//
// Prefill runs the prompt in the expanded form (per-head keys and values, as
// training does) and stores only what MLA needs later: the normed latent and
// the rotated k_pe. Decode folds kv_b_proj into the query and the output so
// attention reads the latent cache directly, as one-kv-head MQA.
//
//===----------------------------------------------------------------------===//

#include "models/deepseek/DeepseekInference.h"

#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/deepseek/DeepseekRope.h"

namespace kiln::models {

namespace {

namespace names = inference;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct LayerCache {
  State latent, kRope;
};

/// x with `row` [B, 1, D] written at slot positions[b] of each row b of
/// x [B, L, D]; a position outside [0, L) writes nothing. The cache is read
/// nowhere else, so kiln-update-in-place lets the write touch just the B
/// rows of the donated cache.
Tensor writeAt(const Tensor &x, const Tensor &row, const Tensor &positions) {
  return putAlongAxis(x, reshape(positions, {x.dim(0), 1, 1}), row, 1);
}

/// MLA decode attention over the cache in the absorbed form. With W_UK, W_UV
/// the per-head key and value blocks of kv_b_proj, q_nope·(W_UK c) =
/// (q_nope W_UK)·c and Σ p·(W_UV c) = W_UV (Σ p·c): the query moves into
/// latent space, every head shares the one latent "kv head", and the cache is
/// never expanded to heads × positions.
Tensor attendAbsorbed(Function &fn, const MlaAttention &mla,
                      const MlaAttention::Queries &q, const Tensor &latent,
                      const Tensor &kRope, const Tensor &positions) {
  const DeepseekV3Config &c = mla.cfg();
  int64_t b = latent.dim(0), len = latent.dim(1), heads = c.numAttentionHeads;
  int64_t nope = c.qkNopeHeadDim, vDim = c.vHeadDim, rank = c.kvLoraRank;
  int64_t ropeDim = c.qkRopeHeadDim;

  Tensor w = reshape(fn.read(mla.kvBProjection().weight()),
                     {heads, nope + vDim, rank});
  Tensor wUK = slice(w, {0, 0, 0}, {heads, nope, rank}); // [h, nope, r]
  Tensor wUV = slice(w, {0, nope, 0}, {heads, nope + vDim, rank}); // [h, v, r]

  // Heads lead so that the per-head weights are the matmul batch.
  Tensor qNope = transpose(reshape(q.nope, {b, heads, nope}), {1, 0, 2});
  Tensor qLatent = transpose(matmul(qNope, wUK), {1, 0, 2}); // [B, h, r]
  Tensor query = concat({reshape(qLatent, {b, heads, 1, rank}), q.rope}, -1);
  Tensor key =
      reshape(concat({latent, kRope}, -1), {b, 1, len, rank + ropeDim});
  Tensor value = reshape(latent, {b, 1, len, rank});

  AttentionOptions options;
  options.scale = attentionSoftmaxScale(c);
  options.causal = true;
  options.qOffset = positions;
  options.validLen = positions + 1.0;
  Tensor out = attention(query, key, value, options); // [B, h, 1, r]
  out = transpose(reshape(out, {b, heads, rank}), {1, 0, 2});
  out = matmul(out, wUV, false, /*transposeB=*/true); // [h, B, v]
  out = reshape(transpose(out, {1, 0, 2}), {b, 1, heads * vDim});
  return mla.outProjection()(fn, out);
}

} // namespace

SamplingInputs samplingInputs(Function &fn, int64_t batch, int64_t maskVocab,
                              bool minP, bool greedyOnly) {
  if (greedyOnly) {
    SamplingInputs s;
    if (maskVocab > 0)
      s.logitMask = fn.input(names::kLogitMask, {batch, maskVocab}, DType::f32);
    return s;
  }
  SamplingInputs s{fn.input(names::kTemperature, {batch}, DType::f32),
                   fn.input(names::kTopK, {batch}, DType::i64),
                   fn.input(names::kTopP, {batch}, DType::f32),
                   fn.input(names::kSeed, {batch}, DType::i64),
                   fn.input(names::kStep, {batch}, DType::i64),
                   Tensor(),
                   Tensor()};
  if (maskVocab > 0)
    s.logitMask = fn.input(names::kLogitMask, {batch, maskVocab}, DType::f32);
  if (minP)
    s.minP = fn.input(names::kMinP, {batch}, DType::f32);
  return s;
}

Tensor sampleTokens(const Tensor &logits, const SamplingInputs &s) {
  Function *fnPtr = logits.function();
  if (!fnPtr)
    return logits;
  Function &fn = *fnPtr;
  int64_t b = logits.dim(0), v = logits.dim(1);
  Tensor l = logits.dtype() == DType::f32 ? logits : cast(logits, DType::f32);
  // Forbidden tokens sink to -inf: last in the sort, zero mass for top-p,
  // never drawn by Gumbel-max, never argmax while any token is allowed.
  if (s.logitMask.valid())
    l = l + s.logitMask;
  // Greedy only: the sampler's rank-0 token (the stable descending sort's
  // first, the lowest id among equal maxima), found without the sort.
  if (!s.temperature.valid())
    return argmax(l, -1);

  Tensor temperature = reshape(s.temperature, {b, 1});
  Tensor greedy = temperature <= 0.0;
  Tensor scaled = l / select(greedy, scalar(fn, 1.0, DType::f32), temperature);

  // Filter in descending order; the sort is stable, so ties keep the lower
  // token id first and rank 0 is exactly argmax's choice.
  Tensor order = argsort(scaled, -1, /*descending=*/true); // [B, V]
  Tensor sorted = takeAlongAxis(scaled, order, 1);
  Tensor rank = iota(fn, {b, v}, 1, DType::i64);
  Tensor topK = reshape(s.topK, {b, 1});
  Tensor keepK =
      rank < select(topK <= 0.0, scalar(fn, double(v), DType::i64), topK);
  Tensor negInf = scalar(fn, -kInf, DType::f32);
  Tensor probs = softmax(select(keepK, sorted, negInf), -1);
  // Mass strictly before each rank: rank r stays while the tokens above it
  // have not yet reached p, which keeps the smallest prefix reaching p.
  Tensor before = cumsum(probs, 1, /*exclusive=*/true);
  Tensor topP = reshape(s.topP, {b, 1});
  Tensor keepP = before < topP || topP >= 1.0 || equal(rank, 0.0);
  Tensor keep = keepK && keepP;
  if (s.minP.valid()) {
    // p / p_max = exp(z - z_max) of the tempered logits: unchanged by the
    // renormalisation of the other filters.
    Tensor top = slice(sorted, {0, 0}, {b, 1});
    Tensor minP = reshape(s.minP, {b, 1});
    keep = keep && (exp(sorted - top) >= minP || equal(rank, 0.0));
  }
  Tensor filtered = select(keep, sorted, negInf);

  // Each row is drawn with its own key (lo32 = step, hi32 = low 32 bits of
  // seed), counting within the row: a sequence's sample is a function of its
  // own logits, seed and step only, whatever else shares the batch or its row
  // index. The Gumbel noise is indexed by rank in the descending order, which
  // is still exact Gumbel-max (i.i.d. noise per candidate) and saves a second
  // sort.
  Tensor keys = s.seed * 4294967296.0 + s.step;
  Tensor pick = reshape(randomCategorical(keys, filtered), {b, 1});
  Tensor sampled = reshape(takeAlongAxis(order, pick, 1), {b});
  Tensor best = reshape(slice(order, {0, 0}, {b, 1}), {b});
  return select(reshape(greedy, {b}), best, sampled);
}

absl::Status addDeepseekInference(Graph &graph, const DeepseekV3Model &model,
                                  const InferenceShape &shape) {
  const DeepseekV3Config &c = model.config();
  int64_t b = shape.batch, s = shape.promptLen, len = shape.maxLen;
  if (b < 1 || s < 1 || len < s)
    return absl::InvalidArgumentError(absl::StrCat(
        "inference shape needs batch >= 1 and 1 <= promptLen <= maxLen, got "
        "batch ",
        b, ", promptLen ", s, ", maxLen ", len));
  DType dtype = model.modelDtype();
  int64_t half = c.qkRopeHeadDim / 2, hidden = c.hiddenSize;

  std::vector<LayerCache> caches;
  for (int64_t i = 0; i < c.numHiddenLayers; ++i)
    caches.push_back(
        {graph.state(names::latentCacheName(i), {b, len, c.kvLoraRank}, dtype,
                     init::zeros(), StateKind::cache),
         graph.state(names::ropeKeyCacheName(i), {b, len, c.qkRopeHeadDim},
                     dtype, init::zeros(), StateKind::cache)});

  {
    Function &fn = graph.function(names::kPrefill);
    Tensor tokens = fn.input(names::kTokens, {b, s}, DType::i64);
    Tensor lengths = fn.input(names::kLengths, {b}, DType::i64);
    SamplingInputs sampling = samplingInputs(
        fn, b, shape.logitMask ? c.vocabSize : 0, shape.minP, shape.greedyOnly);
    RopeTables tables = ropeTables(c, s);
    Tensor cos = constant(fn, tables.cos, {s, half}, dtype);
    Tensor sin = constant(fn, tables.sin, {s, half}, dtype);
    Tensor h = model.hidden(
        fn, tokens,
        [&](int64_t layer, const MlaAttention &attention,
            const Tensor &x) -> Tensor {
          MlaAttention::Queries q = attention.queries(fn, x, cos, sin);
          MlaAttention::Latent kv = attention.latent(fn, x, cos, sin);
          // Slots past a prompt's length take padding's latents; decode
          // overwrites them before any query can see them.
          const LayerCache &cache = caches[layer];
          fn.update(cache.latent, dynamicUpdateSlice(fn.read(cache.latent),
                                                     kv.kv, {0, 0, 0}));
          fn.update(cache.kRope, dynamicUpdateSlice(fn.read(cache.kRope),
                                                    kv.kRope, {0, 0, 0}));
          AttentionOptions options;
          options.causal = true;
          options.validLen = lengths;
          return attention.attendExpanded(fn, q, kv, options);
        });
    Tensor last =
        broadcastTo(reshape(lengths - 1.0, {b, 1, 1}), {b, 1, hidden});
    Tensor logits =
        model.head(fn, reshape(takeAlongAxis(h, last, 1), {b, hidden}));
    if (logits.dtype() != DType::f32)
      logits = cast(logits, DType::f32);
    fn.output(names::kLogits, logits);
    fn.output(names::kNextToken, sampleTokens(logits, sampling));
  }

  {
    Function &fn = graph.function(names::kDecode);
    Tensor tokens = fn.input(names::kTokens, {b}, DType::i64);
    Tensor positions = fn.input(names::kPositions, {b}, DType::i64);
    SamplingInputs sampling = samplingInputs(
        fn, b, shape.logitMask ? c.vocabSize : 0, shape.minP, shape.greedyOnly);
    // Each sequence sits at its own position: gather its row of the table.
    RopeTables tables = ropeTables(c, len);
    Tensor cos = reshape(
        gather(constant(fn, tables.cos, {len, half}, dtype), positions, 0),
        {b, 1, 1, half});
    Tensor sin = reshape(
        gather(constant(fn, tables.sin, {len, half}, dtype), positions, 0),
        {b, 1, 1, half});
    Tensor h = model.hidden(
        fn, reshape(tokens, {b, 1}),
        [&](int64_t layer, const MlaAttention &attention,
            const Tensor &x) -> Tensor {
          MlaAttention::Queries q = attention.queries(fn, x, cos, sin);
          MlaAttention::Latent kv = attention.latent(fn, x, cos, sin);
          const LayerCache &cache = caches[layer];
          Tensor latent = writeAt(fn.read(cache.latent), kv.kv, positions);
          Tensor kRope = writeAt(fn.read(cache.kRope), kv.kRope, positions);
          fn.update(cache.latent, latent);
          fn.update(cache.kRope, kRope);
          return attendAbsorbed(fn, attention, q, latent, kRope, positions);
        });
    Tensor logits = model.head(fn, reshape(h, {b, hidden}));
    if (logits.dtype() != DType::f32)
      logits = cast(logits, DType::f32);
    fn.output(names::kLogits, logits);
    fn.output(names::kNextToken, sampleTokens(logits, sampling));
  }
  return graph.status();
}

} // namespace kiln::models
