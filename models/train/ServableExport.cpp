//===- ServableExport.cpp - a kiln-train output directory kiln-serve reads ===//

#include "models/train/ServableExport.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/HfCheckpoint.h"
#include "models/tokenizer/TokenizerConfig.h"
#include "models/train/PolicyConfig.h"

namespace kiln::train {

absl::Status writeServableModel(const EntryRunner &executor,
                                const TrainConfig &config,
                                const std::string &promptTemplate) {
  KILN_ASSIGN_OR_RETURN(models::DeepseekV3Config policy, policyConfig(config));
  const std::string &dir = config.output_dir();
  KILN_RETURN_IF_ERROR(models::saveHfCheckpoint(executor, policy, dir));
  std::string path = dir + "/tokenizer_config.json";
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << tokenizer::byteTokenizerConfigJson(promptTemplate,
                                              policy.maxPositionEmbeddings);
    if (!out)
      return absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0)
    return absl::InternalError(
        absl::StrCat("cannot rename ", temp, " to ", path));
  return absl::OkStatus();
}

} // namespace kiln::train
