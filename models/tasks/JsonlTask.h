//===- JsonlTask.h - prompts and reference answers from a file -*- C++ -*-===//
//
// A user's data set as a task: a JSON Lines file, one object per line with a
// prompt and a reference answer under field names the configuration gives,
// graded by one of the rule-based rewards (an integer, an exact string or a
// Countdown expression). Lines are held out for evaluation by a stable hash
// of the prompt, as the built-in tasks split by their canonical keys. The
// file is untrusted: every bad line is an error naming the file and the line.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_JSONLTASK_H
#define KILN_MODELS_TASKS_JSONLTASK_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/tasks/Problem.h"

namespace kiln::models::tasks {

/// How a JSONL task's completions are graded; each is the name of its reward
/// in defaultRewardRegistry.
enum class JsonlReward { kInteger, kExact, kCountdown };

/// "integer", "exact" or "countdown"; anything else is an error naming it.
absl::StatusOr<JsonlReward> parseJsonlReward(std::string_view name);
const char *jsonlRewardName(JsonlReward reward);

struct JsonlOptions {
  std::string promptField = "prompt";
  /// A string; for kInteger a JSON integer too. Not read for kCountdown.
  std::string answerField = "answer";
  /// kCountdown: an array of integers and an integer.
  std::string numbersField = "nums";
  std::string targetField = "target";
  /// Empty: lines carry no demonstration (Problem::demonstration is "").
  std::string demonstrationField;
  JsonlReward reward = JsonlReward::kInteger;
  /// Share of lines held out for evaluation, in (0, 1).
  double evalFraction = 0.1;
  /// Wraps each prompt into Problem::prompt.
  PromptTemplate prompt{"{question}"};
};

class JsonlTask : public Task {
public:
  /// Reads and checks every line of `path`.
  static absl::StatusOr<JsonlTask> fromFile(const std::string &path,
                                            JsonlOptions options);
  /// The same for `text`, named `source` in errors ("FILE:LINE: ..."). Fails
  /// on a bad line, on a file without problems and on a split left empty.
  static absl::StatusOr<JsonlTask>
  parse(std::string_view text, const std::string &source, JsonlOptions options);

  std::string_view name() const override { return "jsonl"; }
  /// Training problems in a fresh order each pass over the split (a keyed
  /// permutation of the pass, so any index is drawn without state);
  /// evaluation problems in file order. Problem::task names the reward.
  Problem generate(uint64_t seed, uint64_t index,
                   Split split = Split::kTrain) const override;
  /// Lines in `split`.
  size_t size(Split split) const;
  const JsonlOptions &options() const { return opts; }

private:
  explicit JsonlTask(JsonlOptions options) : opts(std::move(options)) {}
  JsonlOptions opts;
  std::vector<Problem> train, eval;
};

/// Position `index` of a permutation of [0, n) keyed by `key`: a Feistel
/// network over the next power of four with cycle walking, so a pass visits
/// every position once in an order the key fixes. n > 0.
uint64_t permutedIndex(uint64_t index, uint64_t n, uint64_t key);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_JSONLTASK_H
