//===- BpeTokenizer.h - byte-level BPE from a tokenizer.json ----*- C++ -*-===//
//
// Encodes and decodes exactly as Hugging Face `tokenizers` does for GPT-2,
// Llama-3, DeepSeek-V3 and GPT-4o style byte-level BPE tokenizers.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_BPETOKENIZER_H
#define KILN_MODELS_TOKENIZER_BPETOKENIZER_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kiln::tokenizer {

/// A loaded tokenizer.json. What it reads:
///   model       type "BPE": vocab, merges ("a b" strings or ["a", "b"]
///               pairs, ranked by position), ignore_merges, unk_token and
///               fuse_unk. Refused: dropout > 0, byte_fallback,
///               continuing_subword_prefix, end_of_word_suffix.
///   normalizer  null or an empty Sequence; any other is refused by type.
///   pre_tokenizer  ByteLevel (add_prefix_space, use_regex), Split (Regex or
///               String pattern, all five behaviours, invert), Digits, and
///               Sequences of these; one ByteLevel step is required.
///   added_tokens   matched in the text before pre-tokenization (leftmost,
///               then longest), honouring single_word, lstrip, rstrip and
///               normalized (as the pass order; normalizers are no-ops).
///   post_processor null, ByteLevel (no effect on ids), TemplateProcessing
///               (its "single" template) and Sequences of them; applied only
///               with addSpecialTokens.
///   decoder     ByteLevel (or a Sequence of ByteLevel only).
/// "truncation" and "padding" are ignored: callers cut and pad ids.
///
/// Differences from Hugging Face, all outside valid use: encode refuses
/// invalid UTF-8 (Python strings cannot hold it); decode returns the raw bytes
/// (Hugging Face replaces an incomplete UTF-8 sequence with U+FFFD) and spells
/// an added token by its content; an unknown id is an error rather than
/// skipped. Regexes run on PCRE2, whose Unicode tables may differ from
/// Oniguruma's for characters newer than either.
///
/// Thread-safe: encode and decode may run concurrently (the BPE cache is
/// locked). Movable, not copyable.
class BpeTokenizer {
public:
  /// Reads a tokenizer.json; errors name the file and the offending field.
  static absl::StatusOr<BpeTokenizer> fromJson(const std::string &path);
  /// Parses tokenizer.json text; `source` names it in errors.
  static absl::StatusOr<BpeTokenizer>
  fromJsonString(std::string_view text, const std::string &source = "<string>");

  BpeTokenizer(BpeTokenizer &&) noexcept;
  BpeTokenizer &operator=(BpeTokenizer &&) noexcept;
  ~BpeTokenizer();

  /// Token ids of `text` (UTF-8). Added tokens in the text are matched; with
  /// `addSpecialTokens` the post-processor's template (a BOS, say) is applied,
  /// as Hugging Face's encode(add_special_tokens=True) does.
  absl::StatusOr<std::vector<int64_t>>
  encode(std::string_view text, bool addSpecialTokens = false) const;

  /// The bytes `ids` spell; special added tokens are dropped with
  /// `skipSpecialTokens`. An id that names no token is an error.
  absl::StatusOr<std::string> decode(absl::Span<const int64_t> ids,
                                     bool skipSpecialTokens = false) const;

  /// One past the largest id (model vocabulary and added tokens): the
  /// embedding table's row count.
  int64_t vocabSize() const;

  /// Id of a token as the vocabulary spells it (added tokens by content,
  /// model tokens in byte-level characters, e.g. "Ġthe").
  std::optional<int64_t> tokenToId(std::string_view token) const;
  std::optional<std::string> idToToken(int64_t id) const;
  /// Whether `id` is an added token marked special.
  bool isSpecial(int64_t id) const;

private:
  struct Impl;
  explicit BpeTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_BPETOKENIZER_H
