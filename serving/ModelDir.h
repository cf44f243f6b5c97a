//===- ModelDir.h - what a served model directory holds         -*- C++ -*-===//
//
// A Hugging Face model directory (config.json, safetensors, tokenizer.json,
// tokenizer_config.json with its chat template and special tokens) or a
// kiln-train --output-dir, which holds the same files with Kiln's byte
// tokenizer described in tokenizer_config.json. Weights are loaded later,
// into the compiled model's executor (models/deepseek/HfCheckpoint.h).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_MODELDIR_H
#define KILN_SERVING_MODELDIR_H

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/tokenizer/ChatTemplate.h"
#include "serving/TextTokenizer.h"

namespace kiln::serving {

struct ModelDir {
  std::string path;
  models::DeepseekV3Config config;
  std::unique_ptr<TextTokenizer> tokenizer;
  /// None when the directory names no chat template: /v1/chat/completions
  /// then answers 400.
  std::optional<tokenizer::ChatTemplate> chatTemplate;
};

/// Reads config.json and the tokenizer. `chatTemplate`, when not empty,
/// names a built-in template (ChatTemplate::byName) instead of the one in
/// tokenizer_config.json. Errors name the file and field.
absl::StatusOr<ModelDir> openModelDir(const std::string &path,
                                      const std::string &chatTemplate = "");

} // namespace kiln::serving

#endif // KILN_SERVING_MODELDIR_H
