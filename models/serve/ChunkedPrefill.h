//===- ChunkedPrefill.h - prompts into chosen cache rows, a chunk at a time -*-
// C++ -*-===//
//
// The "prefill" entry of DeepseekInference.h writes every row of the cache
// from position 0, which a server cannot use while other rows hold running
// sequences. This entry prefills a chunk of one sequence's prompt into its own
// cache row at its own position and leaves the other rows untouched, so
// sequences join between decode steps with a long prompt taking a few steps
// instead of one per token.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_SERVE_CHUNKEDPREFILL_H
#define KILN_MODELS_SERVE_CHUNKEDPREFILL_H

#include "absl/status/status.h"
#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekModel.h"

namespace kiln::models {

/// Adds models/serve/ServeNames.h's kPrefillChunk entry of `chunk` tokens to
/// `graph`, after addDeepseekInference declared its cache there.
/// Attention runs in the expanded form over the whole cache row, masked to
/// the row's valid positions, as prefill's over its prompt.
absl::Status addChunkedPrefill(Graph &graph, const DeepseekV3Model &model,
                               int64_t chunk);

} // namespace kiln::models

#endif // KILN_MODELS_SERVE_CHUNKEDPREFILL_H
