//===- CountdownSolver.cpp - exhaustive pairwise combination -------------===//

#include "models/tasks/CountdownSolver.h"

#include <functional>

#include "absl/strings/str_cat.h"

namespace kiln::models::tasks {

namespace {

/// A partial expression: its value, its text and how tightly it binds
/// (3 atom, 2 product or quotient, 1 sum or difference).
struct Node {
  int64_t value;
  std::string text;
  int precedence;
};

std::string wrap(const Node &n, int minPrecedence) {
  return n.precedence < minPrecedence ? absl::StrCat("(", n.text, ")") : n.text;
}

/// The results of applying op to (a, b) that the classic rules allow.
std::optional<Node> combine(const Node &a, char op, const Node &b) {
  int64_t v;
  switch (op) {
  case '+':
    if (__builtin_add_overflow(a.value, b.value, &v))
      return std::nullopt;
    return Node{v, absl::StrCat(a.text, "+", b.text), 1};
  case '-':
    if (a.value <= b.value)
      return std::nullopt;
    return Node{a.value - b.value, absl::StrCat(a.text, "-", wrap(b, 2)), 1};
  case '*':
    if (__builtin_mul_overflow(a.value, b.value, &v))
      return std::nullopt;
    return Node{v, absl::StrCat(wrap(a, 2), "*", wrap(b, 2)), 2};
  default:
    if (b.value == 0 || a.value % b.value != 0)
      return std::nullopt;
    return Node{a.value / b.value, absl::StrCat(wrap(a, 2), "/", wrap(b, 3)),
                2};
  }
}

/// Calls visit(node, steps) for every expression that combines all of
/// `nodes` into one.
void search(
    std::vector<Node> &nodes, std::vector<std::string> &steps,
    const std::function<void(const Node &, const std::vector<std::string> &)>
        &visit) {
  if (nodes.size() == 1) {
    visit(nodes[0], steps);
    return;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (i == j)
        continue;
      for (char op : {'+', '-', '*', '/'}) {
        // + and * commute: visit each unordered pair once.
        if ((op == '+' || op == '*') && j < i)
          continue;
        std::optional<Node> made = combine(nodes[i], op, nodes[j]);
        if (!made)
          continue;
        std::vector<Node> rest;
        rest.reserve(nodes.size() - 1);
        for (size_t k = 0; k < nodes.size(); ++k)
          if (k != i && k != j)
            rest.push_back(nodes[k]);
        rest.push_back(*made);
        steps.push_back(absl::StrCat(nodes[i].value, std::string(1, op),
                                     nodes[j].value, "=", made->value));
        search(rest, steps, visit);
        steps.pop_back();
      }
    }
  }
}

std::vector<Node> atoms(absl::Span<const int64_t> numbers) {
  std::vector<Node> nodes;
  for (int64_t n : numbers)
    nodes.push_back(Node{n, absl::StrCat(n), 3});
  return nodes;
}

} // namespace

std::map<int64_t, CountdownSolution>
countdownValuesUsingAll(absl::Span<const int64_t> numbers) {
  std::map<int64_t, CountdownSolution> found;
  if (numbers.empty())
    return found;
  std::vector<Node> nodes = atoms(numbers);
  std::vector<std::string> steps;
  search(nodes, steps, [&](const Node &n, const std::vector<std::string> &s) {
    found.try_emplace(n.value, CountdownSolution{n.text, s});
  });
  return found;
}

std::optional<CountdownSolution>
solveCountdown(absl::Span<const int64_t> numbers, int64_t target) {
  // Subsets by increasing size, so the first hit uses the fewest numbers.
  size_t n = numbers.size();
  for (size_t size = 1; size <= n; ++size) {
    for (uint32_t mask = 1; mask < (1u << n); ++mask) {
      if (static_cast<size_t>(__builtin_popcount(mask)) != size)
        continue;
      std::vector<int64_t> subset;
      for (size_t k = 0; k < n; ++k)
        if (mask & (1u << k))
          subset.push_back(numbers[k]);
      auto values = countdownValuesUsingAll(subset);
      if (auto it = values.find(target); it != values.end())
        return it->second;
    }
  }
  return std::nullopt;
}

} // namespace kiln::models::tasks
