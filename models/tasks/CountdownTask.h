//===- CountdownTask.h - reach a target from a few numbers ------*- C++ -*-===//
//
// TinyZero's canonical reasoning task: given 3-4 numbers and a target, write
// an expression with + - * / that equals the target, using every number
// exactly once (or, with allowSubset, each at most once). Every generated
// instance is solvable with all its numbers and carries such a solution.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_COUNTDOWNTASK_H
#define KILN_MODELS_TASKS_COUNTDOWNTASK_H

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tasks/Problem.h"

namespace kiln::models::tasks {

struct CountdownConfig {
  /// How many numbers a problem gives (2 to 5; the search grows fast).
  int minCount = 3;
  int maxCount = 4;
  /// Each number is drawn uniformly from [minNumber, maxNumber]; repeats are
  /// allowed (a repeated number may then be used as often as it is given).
  int64_t minNumber = 1;
  int64_t maxNumber = 99;
  /// Targets are drawn uniformly among the values in this range that some
  /// expression using all the numbers reaches, never one of the numbers.
  int64_t minTarget = 1;
  int64_t maxTarget = 100;
  PromptTemplate prompt = PromptTemplate::compact();
  /// Share of number sets held out for evaluation, in (0, 1). The split is
  /// by the sorted numbers, so evaluation sets are unseen with any target.
  double evalFraction = 0.1;
  /// Whether answers may leave numbers unused; the reward must agree
  /// (RewardOptions::countdownAllowSubset). Without it, make() demonstrates
  /// a solution that uses every number.
  bool allowSubset = false;
};

class CountdownTask : public Task {
public:
  /// Fails on empty or out-of-range bounds, or a config whose problems all
  /// fall in one split.
  static absl::StatusOr<CountdownTask> create(CountdownConfig config);

  std::string_view name() const override { return "countdown"; }
  Problem generate(uint64_t seed, uint64_t index,
                   Split split = Split::kTrain) const override;
  /// The problem for these numbers and target, or nullopt when no
  /// expression allowed by config().allowSubset reaches it.
  std::optional<Problem> make(std::vector<int64_t> numbers,
                              int64_t target) const;

  const CountdownConfig &config() const { return cfg; }

private:
  explicit CountdownTask(CountdownConfig config) : cfg(std::move(config)) {}
  std::optional<Problem> tryGenerate(uint64_t seed, uint64_t index, Split split,
                                     uint64_t maxAttempts) const;
  CountdownConfig cfg;
};

/// The split key of a number set: the numbers sorted, comma-separated.
std::string countdownKey(std::vector<int64_t> numbers);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_COUNTDOWNTASK_H
