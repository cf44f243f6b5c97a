//===- ChatTemplate.cpp - chat messages -> prompt text
//---------------------===//
//
// The DeepSeek renderings follow the Jinja templates of the published
// DeepSeek-V3 and DeepSeek-R1 tokenizer_config.json files: system prompts
// joined by blank lines after the BOS, "<｜User｜>" and "<｜Assistant｜>"
// turns, and (R1) an assistant turn that starts thinking.
//
//===----------------------------------------------------------------------===//

#include "models/tokenizer/ChatTemplate.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kiln::tokenizer {

namespace {

constexpr const char *kUser = "<\xEF\xBD\x9C"
                              "User\xEF\xBD\x9C>";
constexpr const char *kAssistant = "<\xEF\xBD\x9C"
                                   "Assistant\xEF\xBD\x9C>";
constexpr const char *kEndOfSentence =
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
constexpr const char *kQuestionSlot = "{question}";

bool isSystem(const std::string &role) {
  return role == "system" || role == "developer";
}

absl::Status badRole(const std::string &templateName, size_t index,
                     const std::string &role) {
  return absl::InvalidArgumentError(absl::StrCat(
      "chat template '", templateName, "': message ", index, " has role '",
      role, "'; expected system, developer, user or assistant"));
}

} // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::byName(const std::string &name,
                                                  const std::string &bosToken) {
  if (name == "deepseek-v3")
    return ChatTemplate(Kind::deepseekV3, bosToken, "");
  if (name == "deepseek-r1")
    return ChatTemplate(Kind::deepseekR1, bosToken, "");
  if (name == "chatml")
    return ChatTemplate(Kind::chatml, bosToken, "");
  if (absl::StartsWith(name, "kiln:")) {
    std::string text = name.substr(5);
    size_t first = text.find(kQuestionSlot);
    if (first == std::string::npos ||
        text.find(kQuestionSlot, first + 1) != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(
          "chat template 'kiln:' needs \"{question}\" exactly once, got \"",
          text, "\""));
    return ChatTemplate(Kind::kilnPrompt, bosToken, text);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown chat template '", name,
                   "'; Kiln renders deepseek-v3, deepseek-r1, chatml and "
                   "kiln:<text with {question}>"));
}

absl::StatusOr<ChatTemplate>
ChatTemplate::fromJinja(const std::string &jinja, const std::string &bosToken) {
  // A template writes the BOS only where it says so: ChatML templates do
  // not, whatever bos_token the tokenizer names.
  std::string bos = absl::StrContains(jinja, "bos_token") ? bosToken : "";
  if (absl::StrContains(jinja, kAssistant) && absl::StrContains(jinja, kUser)) {
    // R1's generation prompt opens the thinking block; V3's does not.
    bool thinks = absl::StrContains(jinja, "<think>\\n") ||
                  absl::StrContains(jinja, "<think>\n");
    return byName(thinks ? "deepseek-r1" : "deepseek-v3", bos);
  }
  if (absl::StrContains(jinja, "<|im_start|>") &&
      absl::StrContains(jinja, "<|im_end|>"))
    return byName("chatml", bos);
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown chat template \"", jinja.substr(0, 80),
      jinja.size() > 80 ? "..." : "",
      "\"; Kiln renders deepseek-v3, deepseek-r1 and chatml; choose one by "
      "name (kiln-serve --chat-template, kiln-train model.chat_template)"));
}

std::string ChatTemplate::name() const {
  switch (kind) {
  case Kind::deepseekV3:
    return "deepseek-v3";
  case Kind::deepseekR1:
    return "deepseek-r1";
  case Kind::chatml:
    return "chatml";
  case Kind::kilnPrompt:
    return "kiln";
  }
  return "?";
}

absl::StatusOr<std::string>
ChatTemplate::render(const std::vector<ChatMessage> &messages) const {
  if (messages.empty())
    return absl::InvalidArgumentError(
        absl::StrCat("chat template '", name(), "': no messages"));
  std::string out;
  switch (kind) {
  case Kind::deepseekV3:
  case Kind::deepseekR1: {
    std::string system;
    bool firstSystem = true;
    for (const ChatMessage &m : messages)
      if (isSystem(m.role)) {
        absl::StrAppend(&system, firstSystem ? "" : "\n\n", m.content);
        firstSystem = false;
      }
    out = bos + system;
    for (size_t i = 0; i < messages.size(); ++i) {
      const ChatMessage &m = messages[i];
      if (isSystem(m.role))
        continue;
      if (m.role == "user") {
        absl::StrAppend(&out, kUser, m.content);
      } else if (m.role == "assistant") {
        // R1 drops earlier turns' reasoning from the history.
        std::string content = kind == Kind::deepseekR1
                                  ? splitReasoning(m.content).content
                                  : m.content;
        if (kind == Kind::deepseekR1 &&
            !absl::StrContains(m.content, "</think>"))
          content = m.content;
        absl::StrAppend(&out, kAssistant, content, kEndOfSentence);
      } else {
        return badRole(name(), i, m.role);
      }
    }
    absl::StrAppend(&out, kAssistant,
                    kind == Kind::deepseekR1 ? "<think>\n" : "");
    return out;
  }
  case Kind::chatml:
    out = bos;
    for (size_t i = 0; i < messages.size(); ++i) {
      const ChatMessage &m = messages[i];
      std::string role = m.role == "developer" ? "system" : m.role;
      if (role != "system" && role != "user" && role != "assistant")
        return badRole(name(), i, m.role);
      absl::StrAppend(&out, "<|im_start|>", role, "\n", m.content,
                      "<|im_end|>\n");
    }
    absl::StrAppend(&out, "<|im_start|>assistant\n");
    return out;
  case Kind::kilnPrompt: {
    // kiln-train conditions its policies on one question in the task's
    // template: a conversation of any other shape was never seen in training.
    if (messages.size() != 1 || messages[0].role != "user")
      return absl::InvalidArgumentError(absl::StrCat(
          "chat template 'kiln' (kiln-train's prompt \"", kilnText,
          "\") takes exactly one user message, got ", messages.size(),
          " message(s) starting with role '", messages[0].role, "'"));
    size_t at = kilnText.find(kQuestionSlot);
    return absl::StrCat(
        bos, kilnText.substr(0, at), messages[0].content,
        kilnText.substr(at + std::string(kQuestionSlot).size()));
  }
  }
  return absl::InternalError("unhandled chat template kind");
}

ReasoningSplit splitReasoning(const std::string &completion) {
  ReasoningSplit split;
  size_t end = completion.find("</think>");
  std::string reasoning =
      end == std::string::npos ? completion : completion.substr(0, end);
  if (absl::StartsWith(reasoning, "<think>"))
    reasoning = reasoning.substr(7);
  split.reasoning = std::move(reasoning);
  if (end != std::string::npos)
    split.content = completion.substr(end + 8);
  return split;
}

} // namespace kiln::tokenizer
