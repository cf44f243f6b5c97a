//===- TokenMasks.cpp - which tokens a byte automaton allows next ---------===//

#include "serving/TokenMasks.h"

#include <algorithm>
#include <limits>
#include <map>

namespace kiln::serving {

TokenTrie::TokenTrie(const std::vector<std::string> &spellings,
                     std::optional<int64_t> eosId)
    : spellings(spellings), eos(eosId) {
  // Build with maps, then lay the nodes out flat, children in byte order.
  struct Build {
    std::map<uint8_t, int32_t> children;
    std::vector<int32_t> tokens;
  };
  std::vector<Build> build(1);
  for (size_t id = 0; id < spellings.size(); ++id) {
    if (spellings[id].empty())
      continue;
    int32_t n = 0;
    for (unsigned char c : spellings[id]) {
      auto it = build[n].children.find(c);
      if (it == build[n].children.end()) {
        build.emplace_back();
        int32_t child = static_cast<int32_t>(build.size()) - 1;
        build[n].children.emplace(c, child);
        n = child;
      } else {
        n = it->second;
      }
    }
    build[n].tokens.push_back(static_cast<int32_t>(id));
  }
  nodes.resize(build.size());
  for (size_t n = 0; n < build.size(); ++n) {
    Node &node = nodes[n];
    node.firstChild = static_cast<int32_t>(childByte.size());
    node.numChildren = static_cast<int32_t>(build[n].children.size());
    for (auto [byte, child] : build[n].children) {
      childByte.push_back(byte);
      childNode.push_back(child);
    }
    node.firstToken = static_cast<int32_t>(tokens.size());
    node.numTokens = static_cast<int32_t>(build[n].tokens.size());
    tokens.insert(tokens.end(), build[n].tokens.begin(), build[n].tokens.end());
  }
}

std::vector<uint64_t> TokenTrie::allowed(const ByteDfa &dfa,
                                         int32_t state) const {
  std::vector<uint64_t> bits((spellings.size() + 63) / 64, 0);
  auto set = [&](int64_t id) { bits[id / 64] |= uint64_t{1} << (id % 64); };
  if (state == ByteDfa::kDead)
    return bits;
  if (eos && *eos >= 0 && *eos < vocabSize() && dfa.accepting[state])
    set(*eos);
  // Depth first; a subtree is skipped as soon as its prefix leaves the
  // language, which is what makes a walk cheaper than one per token.
  std::vector<std::pair<int32_t, int32_t>> stack = {{0, state}};
  while (!stack.empty()) {
    auto [n, s] = stack.back();
    stack.pop_back();
    const Node &node = nodes[n];
    for (int32_t c = 0; c < node.numChildren; ++c) {
      int32_t to = dfa.step(s, childByte[node.firstChild + c]);
      if (to == ByteDfa::kDead)
        continue;
      int32_t child = childNode[node.firstChild + c];
      const Node &kid = nodes[child];
      for (int32_t t = 0; t < kid.numTokens; ++t)
        set(tokens[kid.firstToken + t]);
      if (kid.numChildren > 0)
        stack.push_back({child, to});
    }
  }
  return bits;
}

TokenConstraint::TokenConstraint(ByteDfa dfa,
                                 std::shared_ptr<const TokenTrie> trie)
    : dfa(std::move(dfa)), trie(std::move(trie)) {
  rows.resize(this->dfa.numStates());
}

int32_t TokenConstraint::advance(int32_t state, int64_t token) const {
  if (state == ByteDfa::kDead || token < 0 || token >= trie->vocabSize())
    return ByteDfa::kDead;
  if (trie->eosId() && token == *trie->eosId())
    return dfa.accepting[state] ? state : ByteDfa::kDead;
  const std::string &bytes = trie->spelling(token);
  if (bytes.empty())
    return ByteDfa::kDead;
  return dfa.walk(state, bytes);
}

const std::vector<uint64_t> &TokenConstraint::allowed(int32_t state) const {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (rows[state])
      return *rows[state];
  }
  // Computed outside the lock: two threads may both compute a row, and the
  // first stored wins; a row is never replaced, so references stay valid.
  auto row =
      std::make_unique<const std::vector<uint64_t>>(trie->allowed(dfa, state));
  std::lock_guard<std::mutex> lock(mutex);
  if (!rows[state])
    rows[state] = std::move(row);
  return *rows[state];
}

bool TokenConstraint::anyAllowed(int32_t state) const {
  const std::vector<uint64_t> &bits = allowed(state);
  return std::any_of(bits.begin(), bits.end(),
                     [](uint64_t w) { return w != 0; });
}

void TokenConstraint::writeMask(int32_t state, float *row) const {
  const std::vector<uint64_t> &bits = allowed(state);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  int64_t v = trie->vocabSize();
  // Word by word: most words of a large vocabulary are all forbidden or all
  // allowed, and those are plain fills.
  for (int64_t w = 0; w * 64 < v; ++w) {
    int64_t begin = w * 64, end = std::min(begin + 64, v);
    uint64_t word = bits[w];
    if (word == 0)
      std::fill(row + begin, row + end, kNegInf);
    else if (word == ~uint64_t{0})
      std::fill(row + begin, row + end, 0.0f);
    else
      for (int64_t i = begin; i < end; ++i)
        row[i] = (word >> (i - begin)) & 1 ? 0.0f : kNegInf;
  }
}

void TokenConstraint::precompute(int64_t budgetBits) const {
  if (static_cast<int64_t>(dfa.numStates()) * trie->vocabSize() > budgetBits) {
    allowed(dfa.start);
    return;
  }
  for (int32_t s = 0; s < dfa.numStates(); ++s)
    allowed(s);
}

} // namespace kiln::serving
