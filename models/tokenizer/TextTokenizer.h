//===- TextTokenizer.h - the tokenizer of a model directory     -*- C++ -*-===//
//
// One interface over Kiln's byte tokenizer (kiln-train policies) and Hugging
// Face byte-level BPE, with the choices serving and training need made once:
// which ids are control tokens that never appear in output text, and the BOS
// spelling the chat template writes.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_TEXTTOKENIZER_H
#define KILN_MODELS_TOKENIZER_TEXTTOKENIZER_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kiln::tokenizer {

class TextTokenizer {
public:
  virtual ~TextTokenizer() = default;
  /// Ids of `text`; invalid UTF-8 is an error (OpenAI's strings are Unicode).
  virtual absl::StatusOr<std::vector<int64_t>>
  encode(std::string_view text) const = 0;
  /// The output text of `ids`: control tokens (BOS, EOS, padding; a BPE
  /// tokenizer's special added tokens) are dropped, others spelled out.
  virtual absl::StatusOr<std::string>
  decode(absl::Span<const int64_t> ids) const = 0;
  /// Every id spelled, control and special tokens included (a BPE added
  /// token by its content): the text a rule-based reward parses, where a
  /// special "</think>" must survive.
  virtual absl::StatusOr<std::string>
  decodeVerbatim(absl::Span<const int64_t> ids) const = 0;
  virtual int64_t vocabSize() const = 0;
  /// The bytes token `id` adds to output text; "" for control tokens and ids
  /// outside the vocabulary (constrained decoding never allows those).
  virtual std::string spelling(int64_t id) const = 0;
  virtual std::optional<int64_t> eosId() const = 0;
  /// What a chat template writes first ("" when nothing).
  virtual std::string bosToken() const = 0;
};

/// Kiln's ByteTokenizer: bytes, "<bos>"/"<eos>"/"<pad>" as control tokens,
/// "<think>", "</think>", "<answer>", "</answer>" spelled in output.
std::unique_ptr<TextTokenizer> byteTextTokenizer();

/// A tokenizer.json; `bosToken`/`eosToken` as tokenizer_config.json names
/// them (empty: none). An EOS spelling that names no token is an error.
absl::StatusOr<std::unique_ptr<TextTokenizer>>
bpeTextTokenizer(const std::string &tokenizerJson, const std::string &bosToken,
                 const std::string &eosToken);

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_TEXTTOKENIZER_H
