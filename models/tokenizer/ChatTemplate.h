//===- ChatTemplate.h - chat messages -> the prompt text a model expects -*- C++
//-*-===//
//
// Built-in renderings of the chat templates Kiln's models use, since no C++
// Jinja library is packaged: DeepSeek-V3's, DeepSeek-R1's, ChatML, and
// kiln-train's task prompt templates. The server and GRPO share them.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_CHATTEMPLATE_H
#define KILN_MODELS_TOKENIZER_CHATTEMPLATE_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::tokenizer {

struct ChatMessage {
  /// "system" (or "developer"), "user" or "assistant".
  std::string role;
  std::string content;
};

class ChatTemplate {
public:
  enum class Kind { deepseekV3, deepseekR1, chatml, kilnPrompt };

  /// "deepseek-v3", "deepseek-r1", "chatml", or "kiln:<text>" where <text>
  /// holds "{question}" once (kiln-train's prompt templates). `bosToken` is
  /// the spelling the template writes first (empty: none). Any other name is
  /// an error naming it and the known ones.
  static absl::StatusOr<ChatTemplate> byName(const std::string &name,
                                             const std::string &bosToken);
  /// Recognises a chat template's Jinja source (chat_template.jinja or
  /// tokenizer_config.json's `chat_template`) by the markers of each built-in
  /// template; an unrecognised one is an error quoting its start. The
  /// rendering starts with `bosToken` only when the source writes bos_token.
  static absl::StatusOr<ChatTemplate> fromJinja(const std::string &jinja,
                                                const std::string &bosToken);

  /// The prompt for `messages`, ending with the assistant's generation
  /// prompt. Errors name the template and the message that does not fit.
  absl::StatusOr<std::string>
  render(const std::vector<ChatMessage> &messages) const;

  /// Whether completions start with reasoning that ends at "</think>"
  /// (DeepSeek-R1's API splits them into reasoning_content and content).
  bool reasons() const {
    return kind == Kind::deepseekR1 || kind == Kind::kilnPrompt;
  }
  Kind templateKind() const { return kind; }
  /// "deepseek-v3", "deepseek-r1", "chatml" or "kiln".
  std::string name() const;

private:
  ChatTemplate(Kind kind, std::string bos, std::string kilnText)
      : kind(kind), bos(std::move(bos)), kilnText(std::move(kilnText)) {}

  Kind kind;
  std::string bos;
  std::string kilnText;
};

/// DeepSeek-R1's reasoning split of a completion: text before "</think>" is
/// reasoning (a leading "<think>" dropped), the rest is content; with no
/// "</think>" everything is reasoning.
struct ReasoningSplit {
  std::string reasoning, content;
};
ReasoningSplit splitReasoning(const std::string &completion);

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_CHATTEMPLATE_H
