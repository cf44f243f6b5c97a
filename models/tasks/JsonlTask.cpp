//===- JsonlTask.cpp - prompts and reference answers from a file ----------===//

#include "models/tasks/JsonlTask.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "executor/UntrustedJson.h"
#include "models/tasks/IntegerAnswer.h"
#include "models/tasks/TaskSplit.h"
#include "nlohmann/json.hpp"

namespace kiln::models::tasks {

namespace {

using json = nlohmann::json;

/// More numbers than any Countdown instance has: the reward's checker tries
/// them all.
constexpr size_t kMaxCountdownNumbers = 16;

/// "a string", "an array", ... for messages.
std::string typeWithArticle(const json &v) {
  std::string type = v.type_name();
  bool vowel =
      !type.empty() && std::string("aeiou").find(type[0]) != std::string::npos;
  return absl::StrCat(vowel ? "an " : "a ", type);
}

/// One line's fields, read with errors that name the line.
class LineReader {
public:
  LineReader(const json &object, std::string where)
      : object(object), where(std::move(where)) {}

  absl::Status error(const std::string &what) const {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  }

  absl::StatusOr<const json *> field(const std::string &name) const {
    auto it = object.find(name);
    if (it == object.end())
      return error(
          absl::StrCat("missing field \"", quoteBounded(name, 60), "\""));
    return &*it;
  }

  absl::Status wrongType(const std::string &name, const json &v,
                         const char *expected) const {
    return error(absl::StrCat("field \"", quoteBounded(name, 60), "\" is ",
                              typeWithArticle(v), " (", jsonSnippet(v, 60),
                              "); expected ", expected));
  }

  absl::StatusOr<std::string> string(const std::string &name) const {
    absl::StatusOr<const json *> v = field(name);
    if (!v.ok())
      return v.status();
    if (!(*v)->is_string())
      return wrongType(name, **v, "a string");
    return (*v)->get<std::string>();
  }

  absl::StatusOr<int64_t> integer(const std::string &name,
                                  const json &v) const {
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() &&
          v.get<uint64_t>() >
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return error(absl::StrCat("field \"", quoteBounded(name, 60), "\" is ",
                                  jsonSnippet(v, 60),
                                  ", beyond a 64-bit integer"));
      return v.get<int64_t>();
    }
    return wrongType(name, v, "an integer");
  }

private:
  const json &object;
  std::string where;
};

absl::StatusOr<Problem> readLine(const json &object, const std::string &where,
                                 const JsonlOptions &o) {
  if (!object.is_object())
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected a JSON object, got ", typeWithArticle(object)));
  LineReader line(object, where);
  Problem p;
  p.task = jsonlRewardName(o.reward);
  absl::StatusOr<std::string> prompt = line.string(o.promptField);
  if (!prompt.ok())
    return prompt.status();
  if (prompt->empty())
    return line.error(absl::StrCat("field \"", quoteBounded(o.promptField, 60),
                                   "\" is empty"));
  p.question = *std::move(prompt);
  p.prompt = o.prompt.render(p.question);
  p.canonicalKey = p.question;
  if (!o.demonstrationField.empty()) {
    absl::StatusOr<std::string> demo = line.string(o.demonstrationField);
    if (!demo.ok())
      return demo.status();
    p.demonstration = *std::move(demo);
  }
  switch (o.reward) {
  case JsonlReward::kInteger: {
    absl::StatusOr<const json *> v = line.field(o.answerField);
    if (!v.ok())
      return v.status();
    if ((*v)->is_string()) {
      std::string text = (*v)->get<std::string>();
      absl::StatusOr<int64_t> value = parseIntegerAnswer(text);
      if (!value.ok())
        return line.error(absl::StrCat(
            "field \"", quoteBounded(o.answerField, 60), "\" is \"",
            quoteBounded(text, 60),
            "\", not an integer in canonical decimal (reward \"integer\")"));
      p.target = *value;
    } else {
      absl::StatusOr<int64_t> value = line.integer(o.answerField, **v);
      if (!value.ok())
        return line.wrongType(o.answerField, **v,
                              "an integer or a string holding one");
      p.target = *value;
    }
    p.answer = std::to_string(p.target);
    break;
  }
  case JsonlReward::kExact: {
    absl::StatusOr<const json *> v = line.field(o.answerField);
    if (!v.ok())
      return v.status();
    if ((*v)->is_string())
      p.answer = (*v)->get<std::string>();
    else if ((*v)->is_number_integer())
      p.answer = (*v)->dump();
    else
      return line.wrongType(o.answerField, **v, "a string");
    break;
  }
  case JsonlReward::kCountdown: {
    absl::StatusOr<const json *> numbers = line.field(o.numbersField);
    if (!numbers.ok())
      return numbers.status();
    if (!(*numbers)->is_array() || (*numbers)->empty() ||
        (*numbers)->size() > kMaxCountdownNumbers)
      return line.wrongType(
          o.numbersField, **numbers,
          absl::StrCat("an array of 1 to ", kMaxCountdownNumbers, " integers")
              .c_str());
    for (const json &n : **numbers) {
      absl::StatusOr<int64_t> value = line.integer(o.numbersField, n);
      if (!value.ok())
        return line.wrongType(o.numbersField, **numbers,
                              "an array of integers");
      p.numbers.push_back(*value);
    }
    absl::StatusOr<const json *> target = line.field(o.targetField);
    if (!target.ok())
      return target.status();
    absl::StatusOr<int64_t> value = line.integer(o.targetField, **target);
    if (!value.ok())
      return value.status();
    p.target = *value;
    p.answer = std::to_string(p.target);
    break;
  }
  }
  return p;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

} // namespace

absl::StatusOr<JsonlReward> parseJsonlReward(std::string_view name) {
  if (name == "integer")
    return JsonlReward::kInteger;
  if (name == "exact")
    return JsonlReward::kExact;
  if (name == "countdown")
    return JsonlReward::kCountdown;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown JSONL reward \"", quoteBounded(name, 60),
                   "\"; expected integer, exact or countdown"));
}

const char *jsonlRewardName(JsonlReward reward) {
  switch (reward) {
  case JsonlReward::kInteger:
    return "integer";
  case JsonlReward::kExact:
    return "exact";
  case JsonlReward::kCountdown:
    return "countdown";
  }
  return "?";
}

absl::StatusOr<JsonlTask> JsonlTask::fromFile(const std::string &path,
                                              JsonlOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read JSONL file '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(
        absl::StrCat("error reading JSONL file '", path, "'"));
  return parse(text.str(), path, std::move(options));
}

absl::StatusOr<JsonlTask> JsonlTask::parse(std::string_view text,
                                           const std::string &source,
                                           JsonlOptions options) {
  if (absl::Status s = options.prompt.validate(); !s.ok())
    return s;
  if (!(options.evalFraction > 0 && options.evalFraction < 1))
    return absl::InvalidArgumentError(absl::StrCat(
        "JSONL eval fraction must be in (0, 1), got ", options.evalFraction));
  JsonlTask task(std::move(options));
  size_t lineNumber = 0, lines = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++lineNumber;
    if (line.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos)
      continue;
    std::string where = absl::StrCat(source, ":", lineNumber);
    absl::StatusOr<json> object = parseUntrustedJson(line, where);
    if (!object.ok())
      return object.status();
    absl::StatusOr<Problem> problem = readLine(*object, where, task.opts);
    if (!problem.ok())
      return problem.status();
    ++lines;
    (splitOf(problem->canonicalKey, task.opts.evalFraction) == Split::kEval
         ? task.eval
         : task.train)
        .push_back(*std::move(problem));
  }
  if (lines == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": holds no problems (one JSON object a line)"));
  if (task.train.empty() || task.eval.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": all ", lines, " problems fall in the ",
        task.train.empty() ? "held-out" : "training", " split (eval fraction ",
        task.opts.evalFraction,
        ", chosen by a hash of the prompt); add lines or change the fraction"));
  return task;
}

size_t JsonlTask::size(Split split) const {
  return split == Split::kEval ? eval.size() : train.size();
}

Problem JsonlTask::generate(uint64_t seed, uint64_t index, Split split) const {
  if (split == Split::kEval)
    return eval[index % eval.size()];
  uint64_t n = train.size();
  uint64_t pass = index / n;
  return train[permutedIndex(index % n, n, mix(mix(seed) ^ pass))];
}

uint64_t permutedIndex(uint64_t index, uint64_t n, uint64_t key) {
  // Half-widths of a square domain 2^(2 * bits) >= n.
  int bits = 1;
  while (bits < 31 && (uint64_t{1} << (2 * bits)) < n)
    ++bits;
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint64_t x = index;
  // Cycle walking: a value outside [0, n) is permuted again, which stays a
  // permutation of [0, n); the domain is below 4n, so few steps are needed.
  do {
    uint64_t left = x >> bits, right = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      uint64_t f = mix(right ^ mix(key + round)) & mask;
      uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << bits) | right;
  } while (x >= n);
  return x;
}

} // namespace kiln::models::tasks
