//===- Crc32c.h - CRC-32C (Castagnoli) for TFRecord framing -----*- C++ -*-===//
//
// Debian's Abseil (20220623) has no absl/crc, and TensorBoard's record format
// needs CRC-32C and TensorFlow's masking of it; a 256-entry table suffices.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_CRC32C_H
#define KILN_MODELS_GRPO_CRC32C_H

#include <cstdint>
#include <string_view>

namespace kiln::models {

/// CRC-32C (polynomial 0x1EDC6F41, reflected, init and final xor ~0) of
/// `data`, continuing from the CRC `crc` of preceding bytes (0 to start):
/// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

/// TensorFlow's masked CRC, stored in TFRecords so that a CRC of data that
/// itself contains CRCs is not degenerate: rotate right by 15, add a constant.
inline uint32_t maskCrc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_CRC32C_H
