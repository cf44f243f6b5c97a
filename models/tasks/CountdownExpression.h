//===- CountdownExpression.h - checking a Countdown answer ------*- C++ -*-===//
//
// The symbolic checker behind the Countdown reward: a small grammar (numbers,
// + - * / and their Unicode forms, parentheses; no unary signs), evaluated in
// exact rationals, with the numbers it uses checked against those given.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_COUNTDOWNEXPRESSION_H
#define KILN_MODELS_TASKS_COUNTDOWNEXPRESSION_H

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/tasks/Rational.h"

namespace kiln::models::tasks {

struct CountdownExpression {
  Rational value;
  /// The literals in the order written.
  std::vector<int64_t> numbers;
};

/// Grammar, spaces allowed between tokens:
///   expr   := term (('+' | '-' | '−') term)*
///   term   := factor (('*' | '×' | '/' | '÷') factor)*
///   factor := number | '(' expr ')'
///   number := '0' | [1-9][0-9]*
/// A leading zero, a sign, a decimal point, '=', an int64 overflow anywhere,
/// a division by zero or nesting deeper than 64 is an error.
absl::StatusOr<CountdownExpression>
parseCountdownExpression(std::string_view text);

/// Which of the given numbers an answer must use.
enum class CountdownNumbers {
  /// Every given number exactly once (TinyZero's rule, the default).
  kAll,
  /// A sub-multiset: each given number at most once.
  kSubset,
};

/// OK when `text` parses, uses the given `numbers` as `use` says and equals
/// `target` exactly; otherwise the reason it fails.
absl::Status
checkCountdownAnswer(std::string_view text, absl::Span<const int64_t> numbers,
                     int64_t target,
                     CountdownNumbers use = CountdownNumbers::kAll);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_COUNTDOWNEXPRESSION_H
