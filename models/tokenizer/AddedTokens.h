//===- AddedTokens.h - added_tokens, matched in text ------------*- C++ -*-===//
//
// Special and added tokens are cut out of the text before pre-tokenization,
// so "<think>" is one id however the BPE merges would spell it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_ADDEDTOKENS_H
#define KILN_MODELS_TOKENIZER_ADDEDTOKENS_H

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::tokenizer {

/// One entry of "added_tokens", with Hugging Face's AddedToken flags.
struct AddedToken {
  std::string content;
  int32_t id = 0;
  /// Match only when neither neighbour is a word character.
  bool singleWord = false;
  /// Swallow the whitespace before / after a match.
  bool lstrip = false;
  bool rstrip = false;
  /// Matched after normalization (Kiln supports only no-op normalizers, so
  /// this only orders the two matching passes, as in Hugging Face).
  bool normalized = true;
  /// Dropped by decode(skipSpecialTokens).
  bool special = false;
};

/// A cut of the text: an added token's id, or -1 for plain text.
struct TextPiece {
  size_t begin = 0;
  size_t end = 0;
  int32_t id = -1;
};

/// Finds added tokens the way Hugging Face's AddedVocabulary does: first the
/// tokens with normalized=false over the whole text, then those with
/// normalized=true inside the plain-text gaps; within a pass, the leftmost
/// match wins and, among those, the longest.
class AddedTokenMatcher {
public:
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens = {});

  /// Cuts valid UTF-8 `text` into pieces covering it in order.
  void split(std::string_view text, std::vector<TextPiece> &out) const;

  const std::vector<AddedToken> &tokens() const { return all; }

private:
  /// Token indices by first byte, longest first: a trie's first level is all
  /// leftmost-longest matching needs for the few hundred tokens models have.
  using ByFirstByte = std::array<std::vector<int>, 256>;

  void findMatches(std::string_view sentence, size_t base,
                   const ByFirstByte &set, std::vector<TextPiece> &out) const;

  std::vector<AddedToken> all;
  ByFirstByte raw;
  ByFirstByte normalized;
  bool anyNormalized = false;
};

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_ADDEDTOKENS_H
