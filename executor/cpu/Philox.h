// Philox4x32-10 counter-based generator and the OPS.md sampling rules built on it;
// shared by the random_* kernels and state initialisation so a seed means one tensor.
#ifndef KILN_EXECUTOR_CPU_PHILOX_H
#define KILN_EXECUTOR_CPU_PHILOX_H

#include <array>
#include <cmath>
#include <cstdint>

namespace kiln::philox {

using Words = std::array<uint32_t, 4>;

inline Words philox4x32(Words ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;
  constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
    uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ k0, static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ k1, static_cast<uint32_t>(p0)};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

/// Words for element `flat` under `key`, counter = (flat lo, flat hi, c2, 0).
inline Words wordsAt(int64_t key, uint64_t flat, uint32_t c2 = 0) {
  uint64_t k = static_cast<uint64_t>(key);
  return philox4x32({static_cast<uint32_t>(flat), static_cast<uint32_t>(flat >> 32), c2, 0},
                    static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32));
}

/// U[0,1) with 24 bits: (w0 >> 8) * 2^-24.
inline double uniformAt(int64_t key, uint64_t flat) {
  return static_cast<double>(wordsAt(key, flat)[0] >> 8) * 0x1p-24;
}

/// Box-Muller on words 0 and 1; c2 picks a fresh draw (truncated_normal's retries).
inline double normalAt(int64_t key, uint64_t flat, uint32_t c2 = 0) {
  Words w = wordsAt(key, flat, c2);
  double u1 = (static_cast<double>(w[0] >> 8) + 1.0) * 0x1p-24;
  double u2 = static_cast<double>(w[1] >> 8) * 0x1p-24;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

} // namespace kiln::philox

#endif // KILN_EXECUTOR_CPU_PHILOX_H
