//===- PreTokenizer.h - Hugging Face pre-tokenizers, a subset ---*- C++ -*-===//
//
// Cuts text into the words BPE merges within, as a tokenizer.json's
// "pre_tokenizer" says: ByteLevel, Split, Digits, and Sequences of them.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_PRETOKENIZER_H
#define KILN_MODELS_TOKENIZER_PRETOKENIZER_H

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tokenizer/Regex.h"
#include "nlohmann/json_fwd.hpp"

namespace kiln::tokenizer {

/// What a Split does with the pieces its pattern matches (Hugging Face's
/// SplitDelimiterBehavior).
enum class SplitBehavior {
  removed,
  isolated,
  mergedWithPrevious,
  mergedWithNext,
  contiguous
};

class PreTokenizer {
public:
  /// `spec` is the "pre_tokenizer" object; `where` names it in errors.
  static absl::StatusOr<PreTokenizer> fromJson(const nlohmann::json &spec,
                                               const std::string &where);

  /// Appends the words of `text` (valid UTF-8, not empty), spelled as the
  /// model's vocabulary spells them (byte-level characters once a ByteLevel
  /// step has run).
  absl::Status split(std::string_view text,
                     std::vector<std::string> &words) const;

  /// Whether some step maps bytes to the byte-level alphabet.
  bool hasByteLevel() const;

private:
  struct Step {
    enum class Kind { byteLevel, split } kind;
    // byteLevel
    bool addPrefixSpace = false;
    bool useRegex = false;
    // split (and byteLevel with useRegex, which splits Isolated)
    Regex regex;
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
  };

  static absl::Status addSteps(const nlohmann::json &spec,
                               const std::string &where,
                               std::vector<Step> &steps);
  static absl::Status splitPiece(const Regex &regex, SplitBehavior behavior,
                                 bool invert, std::string_view piece,
                                 std::vector<std::string> &out);

  std::vector<Step> steps;
};

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_PRETOKENIZER_H
