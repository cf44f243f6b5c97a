//===- DeepseekInference.h - prefill/decode graphs, MLA cache   -*- C++ -*-===//
//
// Adds the "prefill" and "decode" entries (names in InferenceNames.h) to a
// graph holding a DeepseekV3Model: the KV cache is donated state, decode
// attends in MLA's absorbed form, and both sample the next token in-graph.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKINFERENCE_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKINFERENCE_H

#include "absl/status/status.h"
#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/InferenceNames.h"

namespace kiln::models {

/// The static shapes of one compiled inference bucket.
struct InferenceShape {
  int64_t batch = 1;
  /// Tokens per prefill call; shorter prompts are right-padded to it.
  int64_t promptLen = 1;
  /// Cache slots per sequence (prompt plus generated tokens), >= promptLen.
  int64_t maxLen = 1;
  /// Both entries also take InferenceNames.h's kLogitMask.
  bool logitMask = false;
  /// Both entries also take InferenceNames.h's kMinP.
  bool minP = false;
  /// Both entries pick the argmax of the (masked) logits, the token the
  /// sampler gives a row at temperature <= 0, without sorting the vocabulary,
  /// and take no temperature, top_k, top_p, seed, step or min_p: a bundle for
  /// greedy decoding only (generate() refuses sampled requests for it).
  bool greedyOnly = false;
};

/// Per-row sampling controls, each [B] (see InferenceNames.h), and the
/// optional [B, V] logit mask and [B] min_p (invalid when the entry takes
/// none). A greedy-only entry has only the logit mask.
struct SamplingInputs {
  Tensor temperature, topK, topP, seed, step, logitMask, minP;
};

/// Declares the five sampling inputs of `fn` (none when `greedyOnly`), the
/// logit mask of width `maskVocab` when it is > 0, and min_p when `minP` is
/// set.
SamplingInputs samplingInputs(Function &fn, int64_t batch,
                              int64_t maskVocab = 0, bool minP = false,
                              bool greedyOnly = false);

/// One token per row of logits [B, V] (plus the logit mask, when there is
/// one): greedy where temperature <= 0, else
/// temperature, then top-k, then top-p over the top-k-renormalised
/// probabilities (the smallest prefix of the descending order whose mass
/// reaches p; the top token always stays), and, with a min_p input, only
/// tokens whose probability is at least min_p times the top token's (a ratio,
/// so the same before or after the other filters renormalise, as
/// transformers applies it after them), then Gumbel-max. Row b's noise is
/// keyed by (seed[b], step[b]) alone, so its sample never depends on the other
/// rows of the batch. Without a temperature input (a greedy-only entry): the
/// argmax, lowest id on ties, which is the token a row at temperature <= 0
/// gets. -> [B] i64.
Tensor sampleTokens(const Tensor &logits, const SamplingInputs &sampling);

/// Declares the cache state (kind cache, zero-initialised) and builds both
/// entries into `graph`, which must be the graph `model` was built on.
absl::Status addDeepseekInference(Graph &graph, const DeepseekV3Model &model,
                                  const InferenceShape &shape);

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKINFERENCE_H
