//===- ByteDfa.h - a deterministic automaton over bytes          -*- C++
//-*-===//
//
// What a decoding constraint compiles to (RegexDfa.h): one transition per
// (state, byte), with every state that cannot reach acceptance removed, so a
// byte string is a prefix of some accepted text exactly when walking it never
// meets kDead. Token masks (TokenMasks.h) walk tokens' bytes through it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_BYTEDFA_H
#define KILN_SERVING_BYTEDFA_H

#include <cstdint>
#include <string_view>
#include <vector>

namespace kiln::serving {

struct ByteDfa {
  static constexpr int32_t kDead = -1;

  /// next[state * 256 + byte]: the state after `byte`, or kDead.
  std::vector<int32_t> next;
  std::vector<bool> accepting;
  /// Whether some byte leads on from the state (else it can only end).
  std::vector<bool> continues;
  int32_t start = 0;

  int32_t numStates() const { return static_cast<int32_t>(accepting.size()); }
  int32_t step(int32_t state, unsigned char byte) const {
    return next[static_cast<size_t>(state) * 256 + byte];
  }
  /// The state after `bytes` from `state`, kDead once a byte has no way on.
  int32_t walk(int32_t state, std::string_view bytes) const {
    for (unsigned char c : bytes) {
      if (state == kDead)
        break;
      state = step(state, c);
    }
    return state;
  }
  /// Whether the whole of `text` is accepted.
  bool matches(std::string_view text) const {
    int32_t s = walk(start, text);
    return s != kDead && accepting[s];
  }
};

} // namespace kiln::serving

#endif // KILN_SERVING_BYTEDFA_H
