//===- PolicyText.cpp - the text a kiln-train policy reads and writes -----===//

#include "models/train/PolicyText.h"

#include "absl/strings/str_cat.h"
#include "models/deepseek/HfModelDir.h"
#include "models/tokenizer/ByteTokenizer.h"

namespace kiln::train {

namespace {
using tokenizer::ByteTokenizer;
} // namespace

absl::StatusOr<PolicyText> PolicyText::create(const TrainConfig &config) {
  PolicyText text;
  const ModelConfig &m = config.model();
  if (!m.has_hf_checkpoint()) {
    text.tok = tokenizer::byteTextTokenizer();
    text.eos = ByteTokenizer::kEos;
    text.pad = ByteTokenizer::kPad;
    return text;
  }
  absl::StatusOr<models::HfModelDir> dir =
      models::openHfModelDir(m.hf_checkpoint(), m.chat_template());
  if (!dir.ok())
    return absl::Status(
        dir.status().code(),
        absl::StrCat("model.hf_checkpoint: ", dir.status().message()));
  if (!dir->chatTemplate)
    return absl::InvalidArgumentError(absl::StrCat(
        "model.hf_checkpoint '", m.hf_checkpoint(),
        "' has no chat template (no chat_template.jinja, and "
        "tokenizer_config.json has no chat_template); name a built-in one "
        "with model.chat_template"));
  std::optional<int64_t> eos = dir->tokenizer->eosId();
  if (!eos)
    return absl::InvalidArgumentError(absl::StrCat(
        "model.hf_checkpoint '", m.hf_checkpoint(),
        "': tokenizer_config.json names no eos_token, so completions could "
        "never end"));
  text.tok = std::move(dir->tokenizer);
  text.chat = std::move(dir->chatTemplate);
  text.templatedQuestion = config.task().has_prompt_template();
  text.eos = *eos;
  text.pad = *eos;
  return text;
}

absl::StatusOr<std::string>
PolicyText::promptText(const models::tasks::Problem &problem) const {
  if (!chat)
    return absl::StrCat("<bos>", problem.prompt);
  return chat->render(
      {{"user", templatedQuestion ? problem.prompt : problem.question}});
}

absl::StatusOr<std::vector<int64_t>>
PolicyText::promptIds(const models::tasks::Problem &problem) const {
  if (!chat) {
    // BOS as an id: the byte tokenizer would read "<bos>" in a question as
    // the control token too, so it is never spelled.
    absl::StatusOr<std::vector<int64_t>> ids = tok->encode(problem.prompt);
    if (!ids.ok())
      return ids.status();
    ids->insert(ids->begin(), ByteTokenizer::kBos);
    return ids;
  }
  absl::StatusOr<std::string> text = promptText(problem);
  if (!text.ok())
    return text.status();
  return tok->encode(*text);
}

absl::StatusOr<std::vector<int64_t>>
PolicyText::demonstrationIds(const models::tasks::Problem &problem) const {
  absl::StatusOr<std::vector<int64_t>> ids = tok->encode(problem.demonstration);
  if (!ids.ok())
    return ids.status();
  ids->push_back(eos);
  return ids;
}

absl::StatusOr<std::string>
PolicyText::completionText(absl::Span<const int64_t> ids) const {
  if (!ids.empty() && ids.back() == eos)
    ids.remove_suffix(1);
  return tok->decodeVerbatim(ids);
}

bool PolicyText::thinkOpenedInPrompt() const {
  return chat &&
         chat->templateKind() == tokenizer::ChatTemplate::Kind::deepseekR1;
}

} // namespace kiln::train
