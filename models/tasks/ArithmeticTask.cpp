//===- ArithmeticTask.cpp - arithmetic problems and their workings --------===//

#include "models/tasks/ArithmeticTask.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::models::tasks {

namespace {

int64_t pow10(int exponent) {
  int64_t p = 1;
  for (int i = 0; i < exponent; ++i)
    p *= 10;
  return p;
}

/// Decimal digits, least significant first; 0 has the single digit 0.
std::vector<int> digitsOf(int64_t value) {
  std::vector<int> digits;
  do {
    digits.push_back(static_cast<int>(value % 10));
    value /= 10;
  } while (value > 0);
  return digits;
}

int digitAt(const std::vector<int> &digits, size_t i) {
  return i < digits.size() ? digits[i] : 0;
}

std::string additionWorking(int64_t a, int64_t b) {
  std::vector<int> da = digitsOf(a), db = digitsOf(b);
  size_t columns = std::max(da.size(), db.size());
  std::vector<std::string> steps;
  int carry = 0;
  for (size_t i = 0; i < columns; ++i) {
    int x = digitAt(da, i), y = digitAt(db, i);
    int sum = x + y + carry;
    steps.push_back(carry ? absl::StrCat(x, "+", y, "+", carry, "=", sum)
                          : absl::StrCat(x, "+", y, "=", sum));
    carry = sum / 10;
  }
  return absl::StrCat(absl::StrJoin(steps, ", "), ", so ", a + b);
}

/// Column subtraction of a - b with a >= b. A borrowed column shows its
/// top digit plus ten ("12-8=4") and the borrow it pays back ("13-7-1=5").
std::string subtractionColumns(int64_t a, int64_t b) {
  std::vector<int> da = digitsOf(a), db = digitsOf(b);
  std::vector<std::string> steps;
  int borrow = 0;
  for (size_t i = 0; i < da.size(); ++i) {
    int x = da[i], y = digitAt(db, i);
    bool borrows = x - borrow < y;
    int top = borrows ? x + 10 : x;
    int result = top - y - borrow;
    steps.push_back(borrow ? absl::StrCat(top, "-", y, "-", borrow, "=", result)
                           : absl::StrCat(top, "-", y, "=", result));
    borrow = borrows ? 1 : 0;
  }
  return absl::StrJoin(steps, ", ");
}

std::string subtractionWorking(int64_t a, int64_t b) {
  if (a >= b)
    return absl::StrCat(subtractionColumns(a, b), ", so ", a - b);
  return absl::StrCat("-(", b, "-", a, "): ", subtractionColumns(b, a), ", so ",
                      a - b);
}

std::string multiplicationWorking(int64_t a, int64_t b) {
  std::vector<int> db = digitsOf(b);
  std::vector<std::string> steps;
  std::vector<std::string> partials;
  for (size_t i = 0; i < db.size(); ++i) {
    if (db[i] == 0)
      continue;
    int64_t factor = db[i] * pow10(static_cast<int>(i));
    steps.push_back(absl::StrCat(a, "*", factor, "=", a * factor));
    partials.push_back(absl::StrCat(a * factor));
  }
  if (partials.empty())
    steps.push_back(absl::StrCat(a, "*0=0"));
  else if (partials.size() > 1)
    steps.push_back(absl::StrCat(absl::StrJoin(partials, "+"), "=", a * b));
  return absl::StrCat(absl::StrJoin(steps, ", "), ", so ", a * b);
}

int64_t evaluate(int64_t a, char op, int64_t b) {
  switch (op) {
  case '+':
    return a + b;
  case '-':
    return a - b;
  default:
    return a * b;
  }
}

} // namespace

std::string arithmeticWorking(int64_t a, char op, int64_t b) {
  switch (op) {
  case '+':
    return additionWorking(a, b);
  case '-':
    return subtractionWorking(a, b);
  default:
    return multiplicationWorking(a, b);
  }
}

absl::StatusOr<ArithmeticTask> ArithmeticTask::create(ArithmeticConfig config) {
  if (config.minDigits < 1 || config.maxDigits > 9 ||
      config.minDigits > config.maxDigits)
    return absl::InvalidArgumentError(absl::StrCat(
        "arithmetic digits must satisfy 1 <= minDigits <= maxDigits <= 9, got ",
        config.minDigits, "..", config.maxDigits));
  if (config.ops.empty() ||
      config.ops.find_first_not_of("+-*") != std::string::npos)
    return absl::InvalidArgumentError(absl::StrCat(
        "arithmetic ops must be a non-empty string of '+', '-', '*', got \"",
        config.ops, "\""));
  if (!(config.evalFraction > 0.0 && config.evalFraction < 1.0))
    return absl::InvalidArgumentError(
        absl::StrCat("arithmetic evalFraction must lie in (0, 1), got ",
                     config.evalFraction));
  if (absl::Status s = config.prompt.validate(); !s.ok())
    return s;
  ArithmeticTask task(std::move(config));
  // A tiny problem space can leave a split empty, and generate() would then
  // search forever; find that out here instead.
  for (Split split : {Split::kTrain, Split::kEval})
    if (!task.tryGenerate(0, 0, split, 1 << 16))
      return absl::InvalidArgumentError(absl::StrCat(
          "arithmetic config (digits ", task.cfg.minDigits, "..",
          task.cfg.maxDigits, ", ops \"", task.cfg.ops, "\", evalFraction ",
          task.cfg.evalFraction, ") leaves the ",
          split == Split::kEval ? "evaluation" : "training",
          " split without problems"));
  return task;
}

Problem ArithmeticTask::make(int64_t a, char op, int64_t b) const {
  Problem p;
  p.task = std::string(name());
  p.question = absl::StrCat(a, std::string(1, op), b, "=?");
  p.prompt = cfg.prompt.render(p.question);
  p.target = evaluate(a, op, b);
  p.answer = absl::StrCat(p.target);
  p.demonstration = absl::StrCat("<think>", arithmeticWorking(a, op, b),
                                 "</think><answer>", p.answer, "</answer>");
  p.numbers = {a, b};
  // a+b and b+a (a*b and b*a) are one problem for the split.
  bool commutes = op != '-';
  p.canonicalKey = commutes ? absl::StrCat(std::min(a, b), std::string(1, op),
                                           std::max(a, b))
                            : absl::StrCat(a, "-", b);
  return p;
}

std::optional<Problem> ArithmeticTask::tryGenerate(uint64_t seed,
                                                   uint64_t index, Split split,
                                                   uint64_t maxAttempts) const {
  for (uint64_t attempt = 0; attempt < maxAttempts; ++attempt) {
    std::mt19937_64 rng = problemRng(seed, index, split, attempt);
    auto operand = [&] {
      int digits =
          static_cast<int>(uniformInt(rng, cfg.minDigits, cfg.maxDigits));
      return uniformInt(rng, pow10(digits - 1), pow10(digits) - 1);
    };
    char op = cfg.ops[uniformInt(rng, 0, cfg.ops.size() - 1)];
    int64_t a = operand();
    int64_t b = operand();
    if (op == '-' && !cfg.allowNegative && a < b)
      std::swap(a, b);
    Problem p = make(a, op, b);
    if (splitOf(p.canonicalKey, cfg.evalFraction) == split)
      return p;
  }
  return std::nullopt;
}

Problem ArithmeticTask::generate(uint64_t seed, uint64_t index,
                                 Split split) const {
  // create() found problems in both splits, so each attempt succeeds with
  // probability at least 1 / (number of problems): this ends.
  return *tryGenerate(seed, index, split, UINT64_MAX);
}

} // namespace kiln::models::tasks
