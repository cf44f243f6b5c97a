//===- ArithmeticTask.h - multi-digit +, -, * with workings -----*- C++ -*-===//
//
// Problems like "478*365=?" whose demonstrations work the answer out the way
// a small model can imitate: column by column with carries or borrows for
// + and -, partial products and their sum for *.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_ARITHMETICTASK_H
#define KILN_MODELS_TASKS_ARITHMETICTASK_H

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/tasks/Problem.h"

namespace kiln::models::tasks {

struct ArithmeticConfig {
  /// Each operand has between minDigits and maxDigits digits (1 to 9, so
  /// every product fits in int64); a d-digit operand is drawn uniformly from
  /// [10^(d-1), 10^d - 1].
  int minDigits = 2;
  int maxDigits = 4;
  /// Which of '+', '-', '*' to draw from, uniformly.
  std::string ops = "+-*";
  /// False: a - b is drawn with a >= b, so no answer is negative.
  bool allowNegative = true;
  PromptTemplate prompt = PromptTemplate::compact();
  /// Share of canonical problems held out for evaluation, in (0, 1).
  double evalFraction = 0.1;
};

class ArithmeticTask : public Task {
public:
  /// Fails on a config that names an unknown op, digits outside 1..9, or a
  /// split that leaves training or evaluation without problems.
  static absl::StatusOr<ArithmeticTask> create(ArithmeticConfig config);

  std::string_view name() const override { return "arithmetic"; }
  Problem generate(uint64_t seed, uint64_t index,
                   Split split = Split::kTrain) const override;
  /// The problem "a op b" under this task's template, whatever its split.
  Problem make(int64_t a, char op, int64_t b) const;

  const ArithmeticConfig &config() const { return cfg; }

private:
  explicit ArithmeticTask(ArithmeticConfig config) : cfg(std::move(config)) {}
  std::optional<Problem> tryGenerate(uint64_t seed, uint64_t index, Split split,
                                     uint64_t maxAttempts) const;
  ArithmeticConfig cfg;
};

/// The worked reasoning for a op b, e.g. for 478+365:
/// "8+5=13, 7+6+1=14, 4+3+1=8, so 843". Operands must be non-negative.
std::string arithmeticWorking(int64_t a, char op, int64_t b);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_ARITHMETICTASK_H
