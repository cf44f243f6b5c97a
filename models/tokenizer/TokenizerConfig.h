//===- TokenizerConfig.h - tokenizer_config.json for Kiln's byte tokenizer -*-
//C++ -*-===//
//
// How a model directory says that it reads Kiln's ByteTokenizer (which has no
// tokenizer.json): a Hugging Face-shaped tokenizer_config.json whose
// tokenizer_class is kByteTokenizerClass. kiln-train writes it beside its
// weights; kiln-serve reads it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_TOKENIZERCONFIG_H
#define KILN_MODELS_TOKENIZER_TOKENIZERCONFIG_H

#include <cstdint>
#include <string>

namespace kiln::tokenizer {

inline constexpr const char *kByteTokenizerClass = "KilnByteTokenizer";

/// The tokenizer_config.json text: class, "<bos>"/"<eos>"/"<pad>", the chat
/// template "kiln:<promptTemplate>" (see ChatTemplate::byName) and
/// model_max_length.
std::string byteTokenizerConfigJson(const std::string &promptTemplate,
                                    int64_t modelMaxLength);

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_TOKENIZERCONFIG_H
