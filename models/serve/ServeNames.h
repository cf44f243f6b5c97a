//===- ServeNames.h - names of kiln-serve's chunked prefill entry -*- C++
//-*-===//
//
// Shared by the graph builder (ChunkedPrefill.h, frontend) and the engine
// (serving/Engine.h, executor only), beside models/deepseek/InferenceNames.h
// whose sampling inputs and results the entry shares.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_SERVE_SERVENAMES_H
#define KILN_MODELS_SERVE_SERVENAMES_H

namespace kiln::models::serve {

/// One sequence per call: tokens [1, C] i64 (a chunk of its prompt,
/// right-padded), slot [1] i64 (its cache row), starts [1] i64 (the cache
/// position of the chunk's first token), counts [1] i64 (valid tokens), and
/// the sampling inputs at batch 1 (the logit mask included) -> logits [1, V]
/// and next_token [1] at the last valid token.
inline constexpr const char *kPrefillChunk = "prefill_chunk";
inline constexpr const char *kSlot = "slot";
inline constexpr const char *kStarts = "starts";
inline constexpr const char *kCounts = "counts";

} // namespace kiln::models::serve

#endif // KILN_MODELS_SERVE_SERVENAMES_H
