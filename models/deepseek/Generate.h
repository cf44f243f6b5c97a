//===- Generate.h - batched generation over compiled entries    -*- C++ -*-===//
//
// The host loop over the "prefill" and "decode" entries of DeepseekInference.h:
// executor only (no frontend, no MLIR), so it runs bundles compiled elsewhere.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_GENERATE_H
#define KILN_MODELS_DEEPSEEK_GENERATE_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"

namespace kiln::models {

struct SamplingParams {
  /// <= 0: greedy (argmax, lowest id on ties).
  float temperature = 0;
  /// <= 0: no top-k filter.
  int64_t topK = 0;
  /// >= 1: no nucleus filter.
  float topP = 1;
  /// With the step index, the only source of randomness of this request.
  int64_t seed = 0;
  /// <= 0: no min-p filter. Else tokens less likely than minP times the most
  /// likely one are dropped (needs entries built with
  /// InferenceShape::minP).
  float minP = 0;
};

struct GenerationRequest {
  std::vector<int64_t> prompt;
  int64_t maxNewTokens = 16;
  SamplingParams sampling;
  /// Stop when the decoded completion contains one of these (needs
  /// GenerateOptions::detokenize).
  std::vector<std::string> stopStrings;
  /// Stop when the completion ends with one of these token sequences.
  std::vector<std::vector<int64_t>> stopTokens;
};

enum class FinishReason { eos, stop, length };
/// "eos", "stop", "length".
const char *finishReasonName(FinishReason reason);

struct GenerationResult {
  /// The generated tokens, including the EOS or the token that completed a
  /// stop, as transformers' generate returns them.
  std::vector<int64_t> tokens;
  FinishReason finishReason = FinishReason::length;
  /// The stop string matched (finishReason stop through text), else empty.
  std::string stopString;
  /// detokenize(tokens), cut before a matched stop string; empty without a
  /// detokenizer.
  std::string text;
};

struct GenerateOptions {
  std::optional<int64_t> eosId;
  /// Completion tokens -> text, for stop strings (matched on decoded text
  /// because a string may span or split tokens).
  std::function<std::string(const std::vector<int64_t> &)> detokenize;
  /// When set and true, generation stops before the next prefill or decode
  /// step with a Cancelled error (Ctrl-C during a long evaluation).
  const std::atomic<bool> *stop = nullptr;
  /// For ranks whose entries exchange rows (expert parallelism's
  /// all_to_all in every MoE layer): each must run every prefill and decode
  /// step the others run. When set, `lockstep(mine)` is a collective that
  /// every rank calls alike and that returns whether any rank's `mine` is
  /// true; generate then runs a wave while any rank has requests left (one
  /// without runs padding) and decodes while any rank has a row in flight
  /// (finished rows idle, as padding does).
  std::function<absl::StatusOr<bool>(bool mine)> lockstep;
};

/// Runs prefill, then decode steps, until every request stopped (EOS, a stop,
/// maxNewTokens, or a full cache: finish reason length; with
/// GenerateOptions::lockstep, until every rank's did). Requests beyond the
/// compiled batch run in successive waves; spare rows of a wave are padding.
/// A prompt that is empty or longer than the compiled prompt length, a
/// non-finite temperature, top_p or min_p, or a min_p > 0 for entries that
/// take none, is an error naming the request. Results are
/// in request order.
absl::StatusOr<std::vector<GenerationResult>>
generate(EntryRunner &executor, const std::vector<GenerationRequest> &requests,
         const GenerateOptions &options = {});

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_GENERATE_H
