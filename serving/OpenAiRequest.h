//===- OpenAiRequest.h - validated /v1/completions and /v1/chat requests -*- C++
//-*-===//
//
// Parses a request body into what the engine needs, or into the 400 a client
// gets: malformed JSON, wrong types, out-of-range values and unknown fields
// (OpenAI rejects those too) each name the field.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_OPENAIREQUEST_H
#define KILN_SERVING_OPENAIREQUEST_H

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "models/tokenizer/ChatTemplate.h"
#include "serving/ApiError.h"

namespace kiln::serving {

struct CompletionRequest {
  bool chat = false;
  std::string model;
  /// Chat: the conversation.
  std::vector<tokenizer::ChatMessage> messages;
  /// Completions: one prompt as text or as token ids; a request may batch
  /// several (OpenAI's array of strings or of token-id arrays), each with n
  /// choices.
  struct Prompt {
    std::string text;
    std::optional<std::vector<int64_t>> ids;
  };
  std::vector<Prompt> prompts;
  /// max_tokens or max_completion_tokens; unset: until the context is full.
  std::optional<int64_t> maxTokens;
  float temperature = 1;
  float topP = 1;
  /// Extension: top_k (0 or -1: off).
  int64_t topK = 0;
  /// Unset: the server draws one.
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  int64_t n = 1;
  bool stream = false;
  bool includeUsage = false;
  /// Chat: logprobs true; completions: logprobs = k >= 0.
  bool logprobs = false;
  int64_t topLogprobs = 0;
  /// Extension (as vLLM's): the prompt's and each choice's token ids in the
  /// answer.
  bool returnTokenIds = false;
  /// Extension (as vLLM's): generation goes on past the EOS token, for
  /// benchmarks that need a fixed number of tokens.
  bool ignoreEos = false;
  /// The output constraint as a regex (RegexDfa.h), from response_format
  /// json_schema / json_object (a JSON value's regex, which chat completions
  /// of a reasoning template apply after the reasoning) or the kiln_regex
  /// extension (the whole completion text); none when unset.
  enum class Constraint { none, json, regex } constraint = Constraint::none;
  std::string constraintRegex;
  /// The field it came from, for errors: "response_format" or "kiln_regex".
  std::string constraintParam;
};

/// Largest n, prompts of one request, prompts times n, stop list,
/// top_logprobs and nesting depth accepted.
inline constexpr int64_t kMaxChoices = 16;
inline constexpr int64_t kMaxPrompts = 256;
inline constexpr int64_t kMaxSequences = 256;
inline constexpr int64_t kMaxStops = 4;
inline constexpr int64_t kMaxTopLogprobs = 20;
inline constexpr int kMaxJsonDepth = 32;

/// `chat` selects /v1/chat/completions' fields, else /v1/completions'.
std::variant<CompletionRequest, ApiError>
parseCompletionRequest(const std::string &body, bool chat);

} // namespace kiln::serving

#endif // KILN_SERVING_OPENAIREQUEST_H
