//===- Utf8.h - UTF-8 checks and code point stepping ------------*- C++ -*-===//
//
// Tokenizers work on bytes but cut text at character boundaries; these helpers
// keep that arithmetic in one place (no locale, no ICU).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_UTF8_H
#define KILN_MODELS_TOKENIZER_UTF8_H

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

/// Byte offset of the first malformed sequence (overlong forms, surrogates and
/// code points past U+10FFFF count as malformed), or npos if `text` is valid.
size_t findInvalidUtf8(std::string_view text);

/// Length of the sequence that starts with `lead`; 1 for a stray byte, so that
/// stepping through any byte string always advances.
inline size_t utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80)
    return 1;
  if ((lead >> 5) == 0x6)
    return 2;
  if ((lead >> 4) == 0xE)
    return 3;
  if ((lead >> 3) == 0x1E)
    return 4;
  return 1;
}

/// The code point at `pos` of valid UTF-8 text; `length` receives its size.
char32_t decodeUtf8At(std::string_view text, size_t pos, size_t &length);

/// Start offset of the code point that ends at `end` (> 0) in valid UTF-8.
inline size_t previousCharStart(std::string_view text, size_t end) {
  size_t pos = end - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80)
    --pos;
  return pos;
}

void appendUtf8(std::string &out, char32_t codePoint);

/// Unicode White_Space, the set Rust's regex `\s` uses for added-token
/// lstrip/rstrip in Hugging Face tokenizers.
bool isUnicodeWhiteSpace(char32_t c);

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_UTF8_H
