//===- CompletionFormat.cpp - tag scanning -------------------------------===//

#include "models/tasks/CompletionFormat.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln::models::tasks {

namespace {

enum class Tag { kThinkOpen, kThinkClose, kAnswerOpen, kAnswerClose };

constexpr std::pair<std::string_view, Tag> kTags[] = {
    {"<think>", Tag::kThinkOpen},
    {"</think>", Tag::kThinkClose},
    {"<answer>", Tag::kAnswerOpen},
    {"</answer>", Tag::kAnswerClose},
};

struct TagAt {
  Tag tag;
  size_t begin, end;
};

std::vector<TagAt> scanTags(std::string_view text) {
  std::vector<TagAt> tags;
  for (size_t pos = text.find('<'); pos != std::string_view::npos;
       pos = text.find('<', pos + 1))
    for (auto [spelling, tag] : kTags)
      if (text.substr(pos, spelling.size()) == spelling)
        tags.push_back({tag, pos, pos + spelling.size()});
  return tags;
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\n\r\f\v") == std::string_view::npos;
}

std::string_view tagName(Tag tag) {
  for (auto [spelling, t] : kTags)
    if (t == tag)
      return spelling;
  return "?";
}

} // namespace

FormatOptions FormatOptions::lenient() {
  FormatOptions o;
  o.allowTextBefore = o.allowTextBetween = o.allowTextAfter = true;
  return o;
}

absl::Status checkFormat(std::string_view completion,
                         const FormatOptions &options) {
  std::vector<TagAt> tags = scanTags(completion);
  std::vector<Tag> want = {Tag::kThinkOpen, Tag::kThinkClose, Tag::kAnswerOpen,
                           Tag::kAnswerClose};
  if (options.thinkOpenedInPrompt)
    want.erase(want.begin());
  if (tags.size() != want.size()) {
    std::string seen;
    for (const TagAt &t : tags)
      seen += tagName(t.tag);
    return absl::InvalidArgumentError(absl::StrCat(
        "expected the tags ", want.size() == 4 ? "<think>" : "",
        "</think><answer></answer> once each, got \"", seen, "\""));
  }
  for (size_t i = 0; i < want.size(); ++i)
    if (tags[i].tag != want[i])
      return absl::InvalidArgumentError(
          absl::StrCat("tag ", i, " is ", std::string(tagName(tags[i].tag)),
                       ", expected ", std::string(tagName(want[i]))));

  // Regions: before the think block, its body, between, answer body, after.
  size_t k = 0;
  size_t thinkBegin = options.thinkOpenedInPrompt ? 0 : tags[k++].end;
  std::string_view before =
      options.thinkOpenedInPrompt ? "" : completion.substr(0, tags[0].begin);
  const TagAt &thinkClose = tags[k++];
  const TagAt &answerOpen = tags[k++];
  const TagAt &answerClose = tags[k++];
  std::string_view think =
      completion.substr(thinkBegin, thinkClose.begin - thinkBegin);
  std::string_view between =
      completion.substr(thinkClose.end, answerOpen.begin - thinkClose.end);
  std::string_view answer =
      completion.substr(answerOpen.end, answerClose.begin - answerOpen.end);
  std::string_view after = completion.substr(answerClose.end);

  if (!options.allowTextBefore && !blank(before))
    return absl::InvalidArgumentError("text before <think>");
  if (!options.allowTextBetween && !blank(between))
    return absl::InvalidArgumentError("text between </think> and <answer>");
  if (!options.allowTextAfter && !blank(after))
    return absl::InvalidArgumentError("text after </answer>");
  if (!options.allowEmptyThink && blank(think))
    return absl::InvalidArgumentError("empty <think> block");
  if (!options.allowEmptyAnswer && blank(answer))
    return absl::InvalidArgumentError("empty <answer> block");
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> extractAnswer(std::string_view completion) {
  std::vector<TagAt> tags = scanTags(completion);
  int answerTags = 0;
  for (const TagAt &t : tags)
    answerTags += t.tag == Tag::kAnswerOpen || t.tag == Tag::kAnswerClose;
  size_t n = tags.size();
  if (answerTags != 2 || tags[n - 2].tag != Tag::kAnswerOpen ||
      tags[n - 1].tag != Tag::kAnswerClose)
    return absl::NotFoundError(
        "no single <answer>...</answer> block after all other tags");
  // The last think tag before the answer must close: an answer written
  // while still thinking is not the answer.
  for (size_t i = n - 2; i-- > 0;)
    if (tags[i].tag == Tag::kThinkOpen || tags[i].tag == Tag::kThinkClose) {
      if (tags[i].tag == Tag::kThinkOpen)
        return absl::NotFoundError("the <answer> block is inside <think>");
      break;
    }
  return completion.substr(tags[n - 2].end,
                           tags[n - 1].begin - tags[n - 2].end);
}

} // namespace kiln::models::tasks
