//===- IntegerAnswer.cpp - strict integer parsing ------------------------===//

#include "models/tasks/IntegerAnswer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::models::tasks {

absl::StatusOr<int64_t> parseIntegerAnswer(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  std::string_view s = text;
  s.remove_prefix(std::min(s.size(), s.find_first_not_of(kSpace)));
  s.remove_suffix(s.size() - (s.find_last_not_of(kSpace) + 1));
  auto bad = [&](const char *why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "answer \"", std::string(text), "\" is not an integer: ", why));
  };
  bool negative = !s.empty() && s.front() == '-';
  std::string_view digits = negative ? s.substr(1) : s;
  if (digits.empty())
    return bad("no digits");
  for (char c : digits)
    if (c < '0' || c > '9')
      return bad("only digits and a leading '-' are allowed");
  if (digits.size() > 1 && digits.front() == '0')
    return bad("leading zero");
  if (negative && digits == "0")
    return bad("negative zero");
  // Accumulate negatively so INT64_MIN itself parses.
  int64_t value = 0;
  for (char c : digits)
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_sub_overflow(value, c - '0', &value))
      return bad("out of int64 range");
  if (!negative && __builtin_mul_overflow(value, -1, &value))
    return bad("out of int64 range");
  return value;
}

} // namespace kiln::models::tasks
