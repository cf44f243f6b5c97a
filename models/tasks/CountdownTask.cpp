//===- CountdownTask.cpp - solvable Countdown instances ------------------===//

#include "models/tasks/CountdownTask.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/tasks/CountdownSolver.h"

namespace kiln::models::tasks {

namespace {

Problem render(const CountdownConfig &cfg, std::vector<int64_t> numbers,
               int64_t target, const CountdownSolution &solution) {
  Problem p;
  p.task = "countdown";
  p.question =
      absl::StrCat("Use ", absl::StrJoin(numbers, " "), " to make ", target);
  p.prompt = cfg.prompt.render(p.question);
  p.answer = solution.expression;
  p.demonstration =
      absl::StrCat("<think>", absl::StrJoin(solution.steps, ", "),
                   "</think><answer>", solution.expression, "</answer>");
  p.canonicalKey = countdownKey(numbers);
  p.numbers = std::move(numbers);
  p.target = target;
  return p;
}

} // namespace

std::string countdownKey(std::vector<int64_t> numbers) {
  std::sort(numbers.begin(), numbers.end());
  return absl::StrJoin(numbers, ",");
}

absl::StatusOr<CountdownTask> CountdownTask::create(CountdownConfig config) {
  if (config.minCount < 2 || config.maxCount > 5 ||
      config.minCount > config.maxCount)
    return absl::InvalidArgumentError(absl::StrCat(
        "countdown counts must satisfy 2 <= minCount <= maxCount <= 5, got ",
        config.minCount, "..", config.maxCount));
  if (config.minNumber < 1 || config.maxNumber > 10000 ||
      config.minNumber > config.maxNumber)
    return absl::InvalidArgumentError(absl::StrCat(
        "countdown numbers must satisfy 1 <= minNumber <= maxNumber <= 10000, "
        "got ",
        config.minNumber, "..", config.maxNumber));
  if (config.minTarget < 1 || config.minTarget > config.maxTarget)
    return absl::InvalidArgumentError(absl::StrCat(
        "countdown targets must satisfy 1 <= minTarget <= maxTarget, got ",
        config.minTarget, "..", config.maxTarget));
  if (!(config.evalFraction > 0.0 && config.evalFraction < 1.0))
    return absl::InvalidArgumentError(
        absl::StrCat("countdown evalFraction must lie in (0, 1), got ",
                     config.evalFraction));
  if (absl::Status s = config.prompt.validate(); !s.ok())
    return s;
  CountdownTask task(std::move(config));
  // An impossible target range or a tiny space of number sets would make
  // generate() search forever; find that out here instead.
  for (Split split : {Split::kTrain, Split::kEval})
    if (!task.tryGenerate(0, 0, split, 1 << 12))
      return absl::InvalidArgumentError(absl::StrCat(
          "countdown config (", task.cfg.minCount, "..", task.cfg.maxCount,
          " numbers in ", task.cfg.minNumber, "..", task.cfg.maxNumber,
          ", targets ", task.cfg.minTarget, "..", task.cfg.maxTarget,
          ", evalFraction ", task.cfg.evalFraction,
          ") gave no solvable problem in the ",
          split == Split::kEval ? "evaluation" : "training", " split"));
  return task;
}

std::optional<Problem> CountdownTask::make(std::vector<int64_t> numbers,
                                           int64_t target) const {
  if (!cfg.allowSubset) {
    auto values = countdownValuesUsingAll(numbers);
    auto it = values.find(target);
    if (it == values.end())
      return std::nullopt;
    return render(cfg, std::move(numbers), target, it->second);
  }
  std::optional<CountdownSolution> solution = solveCountdown(numbers, target);
  if (!solution)
    return std::nullopt;
  return render(cfg, std::move(numbers), target, *solution);
}

std::optional<Problem> CountdownTask::tryGenerate(uint64_t seed, uint64_t index,
                                                  Split split,
                                                  uint64_t maxAttempts) const {
  for (uint64_t attempt = 0; attempt < maxAttempts; ++attempt) {
    std::mt19937_64 rng = problemRng(seed, index, split, attempt);
    int64_t count = uniformInt(rng, cfg.minCount, cfg.maxCount);
    std::vector<int64_t> numbers;
    for (int64_t k = 0; k < count; ++k)
      numbers.push_back(uniformInt(rng, cfg.minNumber, cfg.maxNumber));
    // Split before searching: rejected sets cost no search.
    if (splitOf(countdownKey(numbers), cfg.evalFraction) != split)
      continue;
    std::vector<std::pair<int64_t, const CountdownSolution *>> targets;
    auto values = countdownValuesUsingAll(numbers);
    for (auto it = values.lower_bound(cfg.minTarget);
         it != values.end() && it->first <= cfg.maxTarget; ++it)
      if (std::find(numbers.begin(), numbers.end(), it->first) == numbers.end())
        targets.emplace_back(it->first, &it->second);
    if (targets.empty())
      continue;
    auto [target, solution] =
        targets[uniformInt(rng, 0, static_cast<int64_t>(targets.size()) - 1)];
    return render(cfg, std::move(numbers), target, *solution);
  }
  return std::nullopt;
}

Problem CountdownTask::generate(uint64_t seed, uint64_t index,
                                Split split) const {
  // create() found a solvable set in both splits, so each attempt succeeds
  // with positive probability: this ends.
  return *tryGenerate(seed, index, split, UINT64_MAX);
}

} // namespace kiln::models::tasks
