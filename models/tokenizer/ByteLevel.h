//===- ByteLevel.h - GPT-2's byte-to-unicode alphabet -----------*- C++ -*-===//
//
// Byte-level BPE vocabularies spell every byte as a printable character
// (space is "Ġ", newline "Ċ"), so any byte string has a token spelling.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_BYTELEVEL_H
#define KILN_MODELS_TOKENIZER_BYTELEVEL_H

#include <optional>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

/// Appends the byte-level spelling of `bytes` (each byte one character).
void appendByteLevel(std::string &out, std::string_view bytes);

/// The bytes a byte-level token spells, or nullopt if it holds a character
/// outside the alphabet (Hugging Face then keeps the token's own UTF-8).
std::optional<std::string> decodeByteLevel(std::string_view token);

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_BYTELEVEL_H
