//===- Rational.h - exact int64 fractions, overflow-checked -----*- C++ -*-===//
//
// Countdown answers are checked with exact rationals, so (8/3)*3 is exactly 8
// and no float rounding can turn a wrong answer into a right one. Every step
// that would leave int64 is an error instead of a wrapped value.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_RATIONAL_H
#define KILN_MODELS_TASKS_RATIONAL_H

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kiln::models::tasks {

/// num/den in lowest terms with den > 0. INT64_MIN never appears in either
/// part, so negation and absolute values are always safe.
class Rational {
public:
  Rational() = default;
  /// Fails on a zero denominator or an INT64_MIN part.
  static absl::StatusOr<Rational> make(int64_t num, int64_t den = 1);

  int64_t num() const { return numerator; }
  int64_t den() const { return denominator; }
  bool isInteger() const { return denominator == 1; }
  std::string toString() const;

  friend bool operator==(const Rational &, const Rational &) = default;

private:
  Rational(int64_t num, int64_t den) : numerator(num), denominator(den) {}
  int64_t numerator = 0;
  int64_t denominator = 1;
};

absl::StatusOr<Rational> add(const Rational &a, const Rational &b);
absl::StatusOr<Rational> subtract(const Rational &a, const Rational &b);
absl::StatusOr<Rational> multiply(const Rational &a, const Rational &b);
/// Division by zero is an error, never infinity.
absl::StatusOr<Rational> divide(const Rational &a, const Rational &b);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_RATIONAL_H
