//===- Problem.cpp - prompt templates ------------------------------------===//

#include "models/tasks/Problem.h"

#include "absl/strings/str_cat.h"

namespace kiln::models::tasks {

namespace {
constexpr std::string_view kSlot = "{question}";
} // namespace

PromptTemplate PromptTemplate::r1Zero() {
  return {"A conversation between User and Assistant. The user asks a "
          "question, and the Assistant solves it. The assistant first thinks "
          "about the reasoning process in the mind and then provides the user "
          "with the answer. The reasoning process and answer are enclosed "
          "within <think> </think> and <answer> </answer> tags, respectively, "
          "i.e., <think> reasoning process here </think> <answer> answer here "
          "</answer>. User: {question}. Assistant:"};
}

PromptTemplate PromptTemplate::compact() {
  return {"Think in <think></think>, answer in <answer></answer>.\n"
          "Q: {question}\nA: "};
}

PromptTemplate PromptTemplate::bare() { return {"Q: {question}\nA: "}; }

absl::Status PromptTemplate::validate() const {
  size_t first = text.find(kSlot);
  if (first == std::string::npos ||
      text.find(kSlot, first + kSlot.size()) != std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("prompt template must contain \"{question}\" exactly "
                     "once, got \"",
                     text, "\""));
  return absl::OkStatus();
}

std::string PromptTemplate::render(std::string_view question) const {
  std::string out = text;
  if (size_t at = out.find(kSlot); at != std::string::npos)
    out.replace(at, kSlot.size(), question);
  return out;
}

} // namespace kiln::models::tasks
