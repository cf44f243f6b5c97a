//===- Rewards.cpp - accuracy and format rewards -------------------------===//

#include "models/tasks/Rewards.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/tasks/CountdownExpression.h"
#include "models/tasks/IntegerAnswer.h"

namespace kiln::models::tasks {

namespace {

std::string_view stripAsciiSpace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos)
    return {};
  return text.substr(begin, text.find_last_not_of(kSpace) - begin + 1);
}

/// Whether an extracted answer is right for the problem.
using AnswerCheck = std::function<bool(const Problem &, std::string_view)>;

RewardFn makeReward(RewardOptions options, AnswerCheck check) {
  return [options = std::move(options), check = std::move(check)](
             const Problem &problem, std::string_view completion) {
    RewardBreakdown r;
    r.format = checkFormat(completion, options.format).ok() ? 1.0 : 0.0;
    if (check && (r.format == 1.0 || !options.accuracyRequiresFormat)) {
      absl::StatusOr<std::string_view> answer = extractAnswer(completion);
      r.accuracy = answer.ok() && check(problem, *answer) ? 1.0 : 0.0;
    }
    r.total =
        options.accuracyWeight * r.accuracy + options.formatWeight * r.format;
    return r;
  };
}

} // namespace

absl::Status RewardOptions::validate() const {
  if (!std::isfinite(accuracyWeight) || !std::isfinite(formatWeight))
    return absl::InvalidArgumentError(
        absl::StrCat("reward weights must be finite, got accuracyWeight ",
                     accuracyWeight, " and formatWeight ", formatWeight));
  return absl::OkStatus();
}

RewardFn arithmeticReward(const RewardOptions &options) {
  return makeReward(options, [](const Problem &p, std::string_view answer) {
    absl::StatusOr<int64_t> value = parseIntegerAnswer(answer);
    return value.ok() && *value == p.target;
  });
}

RewardFn countdownReward(const RewardOptions &options) {
  CountdownNumbers use = options.countdownAllowSubset
                             ? CountdownNumbers::kSubset
                             : CountdownNumbers::kAll;
  return makeReward(options, [use](const Problem &p, std::string_view answer) {
    return checkCountdownAnswer(answer, p.numbers, p.target, use).ok();
  });
}

RewardFn exactAnswerReward(const RewardOptions &options) {
  return makeReward(options, [](const Problem &p, std::string_view answer) {
    return stripAsciiSpace(answer) == stripAsciiSpace(p.answer);
  });
}

RewardFn formatOnlyReward(const RewardOptions &options) {
  return makeReward(options, nullptr);
}

absl::Status RewardRegistry::add(std::string name, RewardFn fn) {
  if (!fn)
    return absl::InvalidArgumentError(
        absl::StrCat("reward \"", name, "\" has no function"));
  if (rewards.count(name))
    return absl::AlreadyExistsError(
        absl::StrCat("reward \"", name, "\" is already registered"));
  rewards.emplace(std::move(name), std::move(fn));
  return absl::OkStatus();
}

absl::StatusOr<RewardFn> RewardRegistry::find(std::string_view name) const {
  auto it = rewards.find(name);
  if (it == rewards.end())
    return absl::NotFoundError(
        absl::StrCat("no reward named \"", std::string(name),
                     "\"; registered: ", absl::StrJoin(names(), ", ")));
  return it->second;
}

std::vector<std::string> RewardRegistry::names() const {
  std::vector<std::string> out;
  for (const auto &entry : rewards)
    out.push_back(entry.first);
  return out;
}

absl::StatusOr<RewardRegistry>
defaultRewardRegistry(const RewardOptions &options) {
  if (absl::Status s = options.validate(); !s.ok())
    return s;
  RewardRegistry registry;
  for (auto &[name, fn] : std::vector<std::pair<std::string, RewardFn>>{
           {"arithmetic", arithmeticReward(options)},
           {"countdown", countdownReward(options)},
           {"exact", exactAnswerReward(options)},
           {"format_only", formatOnlyReward(options)},
           {"integer", arithmeticReward(options)}})
    if (absl::Status s = registry.add(name, fn); !s.ok())
      return s;
  return registry;
}

} // namespace kiln::models::tasks
