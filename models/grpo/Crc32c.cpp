//===- Crc32c.cpp - CRC-32C (Castagnoli) for TFRecord framing -------------===//

#include "models/grpo/Crc32c.h"

#include <array>

namespace kiln::models {

namespace {

constexpr std::array<uint32_t, 256> makeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1; // 0x1EDC6F41 reflected
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = makeTable();

} // namespace

uint32_t crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char byte : data)
    crc = kTable[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return ~crc;
}

} // namespace kiln::models
