//===- ChunkedPrefill.cpp - prompts into chosen cache rows, a chunk at a time
//===//

#include "models/serve/ChunkedPrefill.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/DeepseekRope.h"
#include "models/deepseek/InferenceNames.h"
#include "models/serve/ServeNames.h"

namespace kiln::models {

namespace {

namespace names = inference;

/// cache [1, L, D] with chunk [1, C, D] written at slots starts[b] ..
/// starts[b] + counts[b] - 1 of each row: a gather of the chunk by slot and a
/// select (exact), since dynamic_update_slice has one start for all rows.
Tensor writeChunk(Function &fn, const Tensor &cache, const Tensor &chunk,
                  const Tensor &starts, const Tensor &counts) {
  int64_t b = cache.dim(0), len = cache.dim(1), d = cache.dim(2);
  int64_t c = chunk.dim(1);
  Tensor index =
      iota(fn, {b, len, 1}, 1, DType::i64) - reshape(starts, {b, 1, 1});
  Tensor valid = index >= 0.0 && index < reshape(counts, {b, 1, 1});
  Tensor clamped = minimum(maximum(index, 0.0), double(c - 1));
  Tensor gathered = takeAlongAxis(chunk, broadcastTo(clamped, {b, len, d}), 1);
  return select(valid, gathered, cache);
}

} // namespace

absl::Status addChunkedPrefill(Graph &graph, const DeepseekV3Model &model,
                               int64_t chunk) {
  const DeepseekV3Config &c = model.config();
  std::map<std::string, State> cache;
  for (const State &s : graph.states(StateKind::cache))
    cache.emplace(s.name(), s);
  auto latentIt = cache.find(names::latentCacheName(0));
  if (latentIt == cache.end())
    return absl::FailedPreconditionError(
        "addChunkedPrefill needs the cache of addDeepseekInference");
  int64_t b = latentIt->second.shape()[0], len = latentIt->second.shape()[1];
  if (chunk < 1 || chunk > len)
    return absl::InvalidArgumentError(absl::StrCat(
        "a prefill chunk holds 1 to ", len, " tokens, got ", chunk));
  DType dtype = model.modelDtype();
  int64_t half = c.qkRopeHeadDim / 2, hidden = c.hiddenSize;

  // One row per call: a chunk's tokens meet no other sequence's in any op
  // (the MoE's expert groups included), so the numbers cannot depend on the
  // batch; the row is read from and written back into cache row `slot`.
  Function &fn = graph.function(serve::kPrefillChunk);
  Tensor tokens = fn.input(names::kTokens, {1, chunk}, DType::i64);
  Tensor slot = fn.input(serve::kSlot, {1}, DType::i64);
  Tensor starts = fn.input(serve::kStarts, {1}, DType::i64);
  Tensor counts = fn.input(serve::kCounts, {1}, DType::i64);
  SamplingInputs sampling = samplingInputs(fn, 1, c.vocabSize);
  Tensor positions =
      minimum(reshape(starts, {1, 1}) + iota(fn, {1, chunk}, 1, DType::i64),
              double(len - 1));
  RopeTables tables = ropeTables(c, len);
  Tensor flat = reshape(positions, {chunk});
  Tensor cos =
      reshape(gather(constant(fn, tables.cos, {len, half}, dtype), flat, 0),
              {1, 1, chunk, half});
  Tensor sin =
      reshape(gather(constant(fn, tables.sin, {len, half}, dtype), flat, 0),
              {1, 1, chunk, half});
  Tensor isSlot =
      equal(iota(fn, {b, 1, 1}, 0, DType::i64), reshape(slot, {1, 1, 1}));
  Tensor h = model.hidden(
      fn, tokens,
      [&](int64_t layer, const MlaAttention &attention,
          const Tensor &x) -> Tensor {
        MlaAttention::Queries q = attention.queries(fn, x, cos, sin);
        MlaAttention::Latent kv = attention.latent(fn, x, cos, sin);
        const State &latentState = cache.at(names::latentCacheName(layer));
        const State &ropeState = cache.at(names::ropeKeyCacheName(layer));
        Tensor latentAll = fn.read(latentState), ropeAll = fn.read(ropeState);
        Tensor latent =
            writeChunk(fn, gather(latentAll, slot, 0), kv.kv, starts, counts);
        Tensor kRope =
            writeChunk(fn, gather(ropeAll, slot, 0), kv.kRope, starts, counts);
        fn.update(latentState, select(isSlot, latent, latentAll));
        fn.update(ropeState, select(isSlot, kRope, ropeAll));
        AttentionOptions options;
        options.causal = true;
        options.qOffset = starts;
        options.validLen = starts + counts;
        return attention.attendExpanded(fn, q, {latent, kRope}, options);
      });
  Tensor last = broadcastTo(reshape(maximum(counts - 1.0, 0.0), {1, 1, 1}),
                            {1, 1, hidden});
  Tensor logits =
      model.head(fn, reshape(takeAlongAxis(h, last, 1), {1, hidden}));
  if (logits.dtype() != DType::f32)
    logits = cast(logits, DType::f32);
  fn.output(names::kLogits, logits);
  fn.output(names::kNextToken, sampleTokens(logits, sampling));
  return graph.status();
}

} // namespace kiln::models
