//===- TaskSplit.cpp - stable hashing, split membership and draws --------===//

#include "models/tasks/TaskSplit.h"

namespace kiln::models::tasks {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

} // namespace

uint64_t stableHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return splitmix64(h);
}

Split splitOf(std::string_view canonicalKey, double evalFraction) {
  // 2^53 buckets: the fraction is honoured to double precision.
  uint64_t bucket = stableHash(canonicalKey) >> 11;
  double u = static_cast<double>(bucket) / static_cast<double>(1ULL << 53);
  return u < evalFraction ? Split::kEval : Split::kTrain;
}

std::mt19937_64 problemRng(uint64_t seed, uint64_t index, Split split,
                           uint64_t attempt) {
  uint64_t s = splitmix64(seed);
  s = splitmix64(s ^ index);
  s = splitmix64(s ^ (split == Split::kEval ? 0x6576616cULL : 0x747261696eULL));
  s = splitmix64(s ^ attempt);
  return std::mt19937_64(s);
}

int64_t uniformInt(std::mt19937_64 &rng, int64_t lo, int64_t hi) {
  uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (range == UINT64_MAX)
    return static_cast<int64_t>(rng());
  uint64_t n = range + 1;
  // Reject the top partial block so every residue is equally likely.
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  uint64_t x;
  do {
    x = rng();
  } while (x > limit);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + x % n);
}

} // namespace kiln::models::tasks
