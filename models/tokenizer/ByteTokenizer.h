//===- ByteTokenizer.h - bytes plus the tasks' special tokens ---*- C++ -*-===//
//
// The tokenizer of models trained from scratch on the built-in tasks: no
// vocabulary file, any byte string encodes, and decode inverts encode exactly.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_BYTETOKENIZER_H
#define KILN_MODELS_TOKENIZER_BYTETOKENIZER_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kiln::tokenizer {

/// Ids 0..255 are the bytes themselves; 256.. are the special tokens below,
/// each encoded as one id wherever its text appears (so "<think>" is one
/// token). Text never decodes ambiguously: a special token's spelling in the
/// input always becomes the special id.
class ByteTokenizer {
public:
  static constexpr int64_t kPad = 256;
  static constexpr int64_t kBos = 257;
  static constexpr int64_t kEos = 258;
  static constexpr int64_t kThink = 259;
  static constexpr int64_t kThinkEnd = 260;
  static constexpr int64_t kAnswer = 261;
  static constexpr int64_t kAnswerEnd = 262;
  static constexpr int64_t kNumSpecial = 7;
  static constexpr int64_t kVocabSize = 256 + kNumSpecial;

  /// Spellings of ids 256..262, in id order.
  static const std::array<std::string_view, kNumSpecial> &specialTokens();

  int64_t vocabSize() const { return kVocabSize; }
  int64_t padId() const { return kPad; }
  int64_t bosId() const { return kBos; }
  int64_t eosId() const { return kEos; }

  /// Id of a special token's spelling, or of a one-byte string.
  std::optional<int64_t> tokenToId(std::string_view token) const;
  /// The bytes (or special token spelling) of `id`; out of range is an error.
  absl::StatusOr<std::string> idToToken(int64_t id) const;
  static bool isSpecial(int64_t id) { return id >= 256 && id < kVocabSize; }

  std::vector<int64_t> encode(std::string_view text) const;
  /// Inverse of encode for any bytes; special ids are dropped with
  /// `skipSpecialTokens`. An id outside [0, vocabSize()) is an error naming it.
  absl::StatusOr<std::string> decode(absl::Span<const int64_t> ids,
                                     bool skipSpecialTokens = false) const;
};

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_BYTETOKENIZER_H
