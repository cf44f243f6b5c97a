//===- CountdownSolver.h - Countdown by brute force -------------*- C++ -*-===//
//
// Brute force over all ways of combining the numbers pairwise with + - * /,
// under the game's classic rules (every intermediate a positive integer), so
// a generated problem is solvable and comes with a reference solution.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_COUNTDOWNSOLVER_H
#define KILN_MODELS_TASKS_COUNTDOWNSOLVER_H

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace kiln::models::tasks {

struct CountdownSolution {
  /// With the fewest parentheses that keep its value, e.g. "25*4-3+1".
  std::string expression;
  /// One line per operation, in order: "25*4=100", "100-3=97", "97+1=98".
  std::vector<std::string> steps;
};

/// Every value reached by an expression that uses each number exactly once,
/// with the first solution the search meets (deterministic).
std::map<int64_t, CountdownSolution>
countdownValuesUsingAll(absl::Span<const int64_t> numbers);

/// A solution for `target` using each number at most once, preferring fewer
/// numbers; nullopt when none exists under the classic rules.
std::optional<CountdownSolution>
solveCountdown(absl::Span<const int64_t> numbers, int64_t target);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_COUNTDOWNSOLVER_H
