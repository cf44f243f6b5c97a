//===- PolicyText.h - the text a policy reads and writes -------*- C++ -*-===//
//
// Between problems and token ids: Kiln's byte tokenizer and the task's prompt
// template for a policy trained from scratch, or a Hugging Face checkpoint's
// tokenizer.json and chat template (model.hf_checkpoint), where a prompt is
// the template's rendering of one user message, as TRL renders
// conversational prompts.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_POLICYTEXT_H
#define KILN_MODELS_TRAIN_POLICYTEXT_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/tasks/Problem.h"
#include "models/tokenizer/ChatTemplate.h"
#include "models/tokenizer/TextTokenizer.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

class PolicyText {
public:
  /// The byte tokenizer, or model.hf_checkpoint's tokenizer and chat
  /// template (model.chat_template choosing a built-in one by name). A
  /// checkpoint without a chat template or an EOS token is an error naming
  /// the folder.
  static absl::StatusOr<PolicyText> create(const TrainConfig &config);

  /// What the policy is conditioned on. Byte tokenizer: BOS, then the task's
  /// prompt. Chat template: the rendering of one user message, the question
  /// (or with task.prompt_template set, the task's prompt), generation
  /// prompt included.
  absl::StatusOr<std::vector<int64_t>>
  promptIds(const models::tasks::Problem &problem) const;
  /// The same as text (the BOS id as its spelling), for printed samples.
  absl::StatusOr<std::string>
  promptText(const models::tasks::Problem &problem) const;
  /// The demonstration's ids and the EOS: an SFT target.
  absl::StatusOr<std::vector<int64_t>>
  demonstrationIds(const models::tasks::Problem &problem) const;
  /// A completion as the reward reads it: every token spelled (special tags
  /// included), the EOS that ended it dropped.
  absl::StatusOr<std::string>
  completionText(absl::Span<const int64_t> ids) const;

  int64_t eosId() const { return eos; }
  /// Fills rows past a sequence's end; never a target that counts.
  int64_t padId() const { return pad; }
  /// Prompts end inside an opened <think> block (DeepSeek-R1's generation
  /// prompt), so a well-formed completion closes it without opening one.
  bool thinkOpenedInPrompt() const;

private:
  PolicyText() = default;

  std::unique_ptr<tokenizer::TextTokenizer> tok;
  std::optional<tokenizer::ChatTemplate> chat;
  /// With a chat template: the task's prompt, not its bare question, is the
  /// user message.
  bool templatedQuestion = false;
  int64_t eos = 0, pad = 0;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_POLICYTEXT_H
