//===- CountdownExpression.cpp - recursive-descent exact evaluation ------===//

#include "models/tasks/CountdownExpression.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::models::tasks {

namespace {

constexpr int kMaxDepth = 64;

class Parser {
public:
  explicit Parser(std::string_view text) : text(text) {}

  absl::StatusOr<CountdownExpression> parse() {
    CountdownExpression result;
    auto value = expr(0, result.numbers);
    if (!value.ok())
      return value.status();
    skipSpaces();
    if (pos != text.size())
      return error("unexpected trailing text");
    result.value = *value;
    return result;
  }

private:
  absl::Status error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what),
                                                   " at offset ", pos, " in \"",
                                                   std::string(text), "\""));
  }

  void skipSpaces() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }

  /// Consumes one of `spellings` and returns its ASCII operator, or 0.
  char accept(std::initializer_list<std::pair<std::string_view, char>> ops) {
    skipSpaces();
    for (auto [spelling, op] : ops) {
      if (text.substr(pos, spelling.size()) == spelling) {
        pos += spelling.size();
        return op;
      }
    }
    return 0;
  }

  absl::StatusOr<Rational> expr(int depth, std::vector<int64_t> &numbers) {
    auto left = term(depth, numbers);
    if (!left.ok())
      return left;
    while (char op = accept({{"+", '+'}, {"-", '-'}, {"\u2212", '-'}})) {
      auto right = term(depth, numbers);
      if (!right.ok())
        return right;
      left = op == '+' ? add(*left, *right) : subtract(*left, *right);
      if (!left.ok())
        return left;
    }
    return left;
  }

  absl::StatusOr<Rational> term(int depth, std::vector<int64_t> &numbers) {
    auto left = factor(depth, numbers);
    if (!left.ok())
      return left;
    while (char op = accept(
               {{"*", '*'}, {"\u00d7", '*'}, {"/", '/'}, {"\u00f7", '/'}})) {
      auto right = factor(depth, numbers);
      if (!right.ok())
        return right;
      left = op == '*' ? multiply(*left, *right) : divide(*left, *right);
      if (!left.ok())
        return left;
    }
    return left;
  }

  absl::StatusOr<Rational> factor(int depth, std::vector<int64_t> &numbers) {
    skipSpaces();
    if (pos == text.size())
      return error("expected a number or '('");
    char c = text[pos];
    if (c == '(') {
      // Bounded so an adversarial "((((..." cannot exhaust the stack.
      if (depth >= kMaxDepth)
        return error("parentheses nested too deeply");
      ++pos;
      auto inner = expr(depth + 1, numbers);
      if (!inner.ok())
        return inner;
      if (!accept({{")", ')'}}))
        return error("expected ')'");
      return inner;
    }
    if (c < '0' || c > '9')
      return error(c == '-' || c == '+' ? "unary signs are not allowed"
                                        : "expected a number or '('");
    size_t start = pos;
    int64_t value = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, text[pos] - '0', &value))
        return error("number overflows int64");
      ++pos;
    }
    if (pos - start > 1 && text[start] == '0')
      return error("numbers must not have leading zeros");
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ','))
      return error("numbers must be integers");
    numbers.push_back(value);
    return Rational::make(value);
  }

  std::string_view text;
  size_t pos = 0;
};

} // namespace

absl::StatusOr<CountdownExpression>
parseCountdownExpression(std::string_view text) {
  return Parser(text).parse();
}

absl::Status checkCountdownAnswer(std::string_view text,
                                  absl::Span<const int64_t> numbers,
                                  int64_t target, CountdownNumbers use) {
  auto parsed = parseCountdownExpression(text);
  if (!parsed.ok())
    return parsed.status();
  std::map<int64_t, int> available;
  for (int64_t n : numbers)
    ++available[n];
  for (int64_t n : parsed->numbers)
    if (--available[n] < 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", std::string(text), "\" uses ", n, " more often than given in [",
          absl::StrJoin(numbers, ", "), "]"));
  if (use == CountdownNumbers::kAll)
    for (const auto &[n, left] : available)
      if (left > 0)
        return absl::InvalidArgumentError(
            absl::StrCat("\"", std::string(text), "\" leaves ", n, " of [",
                         absl::StrJoin(numbers, ", "),
                         "] unused (every number must be used)"));
  auto want = Rational::make(target);
  if (!want.ok())
    return want.status();
  if (!(parsed->value == *want))
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(text), "\" equals ",
                     parsed->value.toString(), ", not ", target));
  return absl::OkStatus();
}

} // namespace kiln::models::tasks
