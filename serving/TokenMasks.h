//===- TokenMasks.h - which tokens a byte automaton allows next  -*- C++
//-*-===//
//
// A constrained sequence is a state of a ByteDfa; the tokens it may sample
// next are those whose bytes the automaton can walk from there. A trie of the
// vocabulary's spellings answers that for a whole state in one walk (shared
// prefixes walk once), and each state's answer is computed once and kept, so
// a decode step only copies a cached row into the logit mask the decode
// entry adds to its logits (models/deepseek/InferenceNames.h, kLogitMask).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_TOKENMASKS_H
#define KILN_SERVING_TOKENMASKS_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "serving/ByteDfa.h"

namespace kiln::serving {

/// The vocabulary's spellings as a trie, built once per served model.
class TokenTrie {
public:
  /// `spellings[id]`: the bytes token `id` adds to the output; empty for ids
  /// a constraint never allows (control tokens, padding rows of the logits).
  /// `eosId` is allowed where the automaton accepts.
  TokenTrie(const std::vector<std::string> &spellings,
            std::optional<int64_t> eosId);

  int64_t vocabSize() const { return static_cast<int64_t>(spellings.size()); }
  std::optional<int64_t> eosId() const { return eos; }
  const std::string &spelling(int64_t id) const { return spellings[id]; }

  /// Allowed tokens at `state` of `dfa` as a bitset of vocabSize() bits.
  std::vector<uint64_t> allowed(const ByteDfa &dfa, int32_t state) const;

private:
  struct Node {
    int32_t firstChild = 0, numChildren = 0;
    int32_t firstToken = 0, numTokens = 0;
  };
  std::vector<std::string> spellings;
  std::optional<int64_t> eos;
  std::vector<Node> nodes;
  std::vector<uint8_t> childByte;
  std::vector<int32_t> childNode;
  std::vector<int32_t> tokens;
};

/// One compiled constraint over one vocabulary; shared by every sequence (and
/// request) that asks for the same pattern. Thread-safe.
class TokenConstraint {
public:
  TokenConstraint(ByteDfa dfa, std::shared_ptr<const TokenTrie> trie);

  int32_t start() const { return dfa.start; }
  int64_t vocabSize() const { return trie->vocabSize(); }
  int32_t numStates() const { return dfa.numStates(); }
  /// The state after `token`; ByteDfa::kDead when the token is not allowed.
  /// The EOS leaves the state as it is (the sequence ends there).
  int32_t advance(int32_t state, int64_t token) const;
  /// The text so far is accepted and nothing may follow it.
  bool complete(int32_t state) const {
    return dfa.accepting[state] && !dfa.continues[state];
  }
  /// Whether any token (the EOS included) may follow.
  bool anyAllowed(int32_t state) const;
  /// Row of vocabSize() floats: 0 where allowed, -inf elsewhere.
  void writeMask(int32_t state, float *row) const;
  const std::vector<uint64_t> &allowed(int32_t state) const;
  /// Computes every state's row now when states x vocabulary is at most
  /// `budgetBits`, else the start state's only; the rest come on first use.
  void precompute(int64_t budgetBits) const;

private:
  ByteDfa dfa;
  std::shared_ptr<const TokenTrie> trie;
  mutable std::mutex mutex;
  mutable std::vector<std::unique_ptr<const std::vector<uint64_t>>> rows;
};

} // namespace kiln::serving

#endif // KILN_SERVING_TOKENMASKS_H
