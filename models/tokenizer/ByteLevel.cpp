//===- ByteLevel.cpp - GPT-2's byte-to-unicode alphabet -------------------===//

#include "models/tokenizer/ByteLevel.h"

#include <array>

#include "models/tokenizer/Utf8.h"

namespace kiln::tokenizer {

namespace {

struct Alphabet {
  std::array<char32_t, 256> byteToChar;
  std::array<std::string, 256> byteToUtf8;

  Alphabet() {
    // Printable Latin-1 bytes stand for themselves; the rest (controls, space,
    // DEL, NBSP, soft hyphen) are moved to U+0100 onwards in byte order.
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                       (b >= 0xAE && b <= 0xFF);
      byteToChar[b] = printable ? static_cast<char32_t>(b) : next++;
      appendUtf8(byteToUtf8[b], byteToChar[b]);
    }
  }

  /// Inverse of byteToChar; -1 outside the alphabet.
  int charToByte(char32_t c) const {
    if (c < 256)
      return byteToChar[c] == c ? static_cast<int>(c) : -1;
    if (c >= 256 + 68)
      return -1;
    for (int b = 0; b < 256; ++b)
      if (byteToChar[b] == c)
        return b;
    return -1;
  }
};

const Alphabet &alphabet() {
  static const Alphabet *table = new Alphabet();
  return *table;
}

} // namespace

void appendByteLevel(std::string &out, std::string_view bytes) {
  const Alphabet &a = alphabet();
  for (char c : bytes)
    out += a.byteToUtf8[static_cast<unsigned char>(c)];
}

std::optional<std::string> decodeByteLevel(std::string_view token) {
  const Alphabet &a = alphabet();
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    size_t len = 0;
    int b = a.charToByte(decodeUtf8At(token, pos, len));
    if (b < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(b));
    pos += len;
  }
  return out;
}

} // namespace kiln::tokenizer
