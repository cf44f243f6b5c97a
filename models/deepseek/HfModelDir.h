//===- HfModelDir.h - a Hugging Face model folder, read once ----*- C++ -*-===//
//
// What kiln-serve serves and kiln-train starts from: a DeepSeek-V3 folder as
// transformers writes one (config.json, safetensors, tokenizer.json,
// tokenizer_config.json, and transformers 5's chat_template.jinja) or a
// kiln-train --output-dir, which holds the same files with Kiln's byte
// tokenizer described in tokenizer_config.json. Weights are loaded later,
// into a compiled model's executor (HfCheckpoint.h).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_HFMODELDIR_H
#define KILN_MODELS_DEEPSEEK_HFMODELDIR_H

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/tokenizer/ChatTemplate.h"
#include "models/tokenizer/TextTokenizer.h"

namespace kiln::models {

struct HfModelDir {
  std::string path;
  DeepseekV3Config config;
  std::unique_ptr<tokenizer::TextTokenizer> tokenizer;
  /// None when the folder names no chat template (kiln-serve then answers
  /// /v1/chat/completions with 400; kiln-train refuses the folder).
  std::optional<tokenizer::ChatTemplate> chatTemplate;
  /// Where the template came from: "chat_template.jinja",
  /// "tokenizer_config.json", or "the name <NAME>" when chosen by name.
  std::string chatTemplateSource;
};

/// Reads config.json, the tokenizer and the chat template of `path`. The
/// template is chat_template.jinja when the folder has one (transformers 5
/// writes it as its own file), else tokenizer_config.json's chat_template;
/// either is recognised by ChatTemplate::fromJinja. `chatTemplate`, when not
/// empty, names a built-in template (ChatTemplate::byName) instead. Errors
/// name the folder, the file and the field.
absl::StatusOr<HfModelDir> openHfModelDir(const std::string &path,
                                          const std::string &chatTemplate = "");

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_HFMODELDIR_H
