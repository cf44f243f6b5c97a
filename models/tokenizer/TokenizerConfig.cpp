//===- TokenizerConfig.cpp - tokenizer_config.json for the byte tokenizer -===//

#include "models/tokenizer/TokenizerConfig.h"

#include "nlohmann/json.hpp"

namespace kiln::tokenizer {

std::string byteTokenizerConfigJson(const std::string &promptTemplate,
                                    int64_t modelMaxLength) {
  nlohmann::json config = {{"tokenizer_class", kByteTokenizerClass},
                           {"bos_token", "<bos>"},
                           {"eos_token", "<eos>"},
                           {"pad_token", "<pad>"},
                           {"chat_template", "kiln:" + promptTemplate},
                           {"model_max_length", modelMaxLength}};
  return config.dump(2) + "\n";
}

} // namespace kiln::tokenizer
