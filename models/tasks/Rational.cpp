//===- Rational.cpp - overflow-checked exact fractions -------------------===//

#include "models/tasks/Rational.h"

#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace kiln::models::tasks {

namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

absl::Status overflow(const char *op, const Rational &a, const Rational &b) {
  return absl::OutOfRangeError(absl::StrCat(a.toString(), " ", op, " ",
                                            b.toString(), " overflows int64"));
}

bool mulOverflows(int64_t a, int64_t b, int64_t &out) {
  return __builtin_mul_overflow(a, b, &out) || out == kMin;
}
bool addOverflows(int64_t a, int64_t b, int64_t &out) {
  return __builtin_add_overflow(a, b, &out) || out == kMin;
}

} // namespace

absl::StatusOr<Rational> Rational::make(int64_t num, int64_t den) {
  if (den == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("division by zero in ", num, "/0"));
  if (num == kMin || den == kMin)
    return absl::OutOfRangeError(
        absl::StrCat(num, "/", den, " has an INT64_MIN part"));
  if (den < 0) {
    num = -num;
    den = -den;
  }
  int64_t g = std::gcd(num, den);
  return Rational(num / g, den / g);
}

std::string Rational::toString() const {
  if (denominator == 1)
    return absl::StrCat(numerator);
  return absl::StrCat(numerator, "/", denominator);
}

absl::StatusOr<Rational> add(const Rational &a, const Rational &b) {
  // a/b + c/d over lcm(b, d) keeps intermediates as small as possible, so
  // fewer honest answers are rejected for overflow.
  int64_t g = std::gcd(a.den(), b.den());
  int64_t left, right, num, den;
  if (mulOverflows(a.num(), b.den() / g, left) ||
      mulOverflows(b.num(), a.den() / g, right) ||
      addOverflows(left, right, num) || mulOverflows(a.den() / g, b.den(), den))
    return overflow("+", a, b);
  return Rational::make(num, den);
}

absl::StatusOr<Rational> subtract(const Rational &a, const Rational &b) {
  // Negation is safe: no part is ever INT64_MIN.
  auto negB = Rational::make(-b.num(), b.den());
  if (!negB.ok())
    return negB.status();
  auto result = add(a, *negB);
  if (!result.ok())
    return overflow("-", a, b);
  return result;
}

absl::StatusOr<Rational> multiply(const Rational &a, const Rational &b) {
  // Cross-cancel first so (8/3)*3 never forms 24/3.
  // Both gcds are positive: denominators are.
  int64_t g1 = std::gcd(a.num(), b.den());
  int64_t g2 = std::gcd(b.num(), a.den());
  int64_t num, den;
  if (mulOverflows(a.num() / g1, b.num() / g2, num) ||
      mulOverflows(a.den() / g2, b.den() / g1, den))
    return overflow("*", a, b);
  return Rational::make(num, den);
}

absl::StatusOr<Rational> divide(const Rational &a, const Rational &b) {
  if (b.num() == 0)
    return absl::InvalidArgumentError(
        absl::StrCat("division by zero in ", a.toString(), " / 0"));
  auto inverse = Rational::make(b.den(), b.num());
  if (!inverse.ok())
    return inverse.status();
  auto result = multiply(a, *inverse);
  if (!result.ok())
    return overflow("/", a, b);
  return result;
}

} // namespace kiln::models::tasks
