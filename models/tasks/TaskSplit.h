//===- TaskSplit.h - seeded streams and the held-out split ------*- C++ -*-===//
//
// A problem belongs to the training or the evaluation split by a stable hash
// of its canonical key, independent of any seed, so no evaluation problem can
// appear in training under any seed or index. Draws avoid the standard
// distributions, whose algorithms differ between standard libraries.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_TASKSPLIT_H
#define KILN_MODELS_TASKS_TASKSPLIT_H

#include <cstdint>
#include <random>
#include <string_view>

namespace kiln::models::tasks {

enum class Split { kTrain, kEval };

/// FNV-1a with a splitmix64 finaliser: the same on every platform and run.
uint64_t stableHash(std::string_view text);

/// Which split a problem with this canonical key belongs to.
Split splitOf(std::string_view canonicalKey, double evalFraction);

/// The generator for one attempt at problem `index` of `split` under `seed`.
/// Distinct (seed, index, split, attempt) give independent streams.
std::mt19937_64 problemRng(uint64_t seed, uint64_t index, Split split,
                           uint64_t attempt);

/// Uniform in [lo, hi] by rejection on raw 64-bit outputs (mt19937_64's
/// outputs are fixed by the standard; uniform_int_distribution's are not).
int64_t uniformInt(std::mt19937_64 &rng, int64_t lo, int64_t hi);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_TASKSPLIT_H
