//===- HfPolicy.cpp - a policy started from a Hugging Face checkpoint -----===//

#include "models/train/HfPolicy.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/HfCheckpoint.h"
#include "models/train/PolicyConfig.h"

namespace kiln::train {

namespace fs = std::filesystem;

const std::vector<std::string> &HfPolicy::copiedFiles() {
  static const std::vector<std::string> files = {
      "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
      "generation_config.json", "special_tokens_map.json"};
  return files;
}

absl::StatusOr<HfPolicy> HfPolicy::load(EntryRunner &executor,
                                        const TrainConfig &config) {
  HfPolicy policy;
  policy.source = config.model().hf_checkpoint();
  KILN_ASSIGN_OR_RETURN(policy.config, policyConfig(config));
  absl::Status loaded = models::loadHfCheckpoint(executor, policy.config,
                                                 policy.source, &policy.dtypes);
  if (!loaded.ok())
    return absl::Status(loaded.code(),
                        absl::StrCat("model.hf_checkpoint '", policy.source,
                                     "': ", loaded.message()));
  return policy;
}

absl::Status HfPolicy::save(const EntryRunner &executor,
                            const std::string &dir) const {
  auto read = [](const fs::path &path) -> absl::StatusOr<std::string> {
    std::ifstream in(path, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!in)
      return absl::NotFoundError(
          absl::StrCat("cannot read '", path.string(), "'"));
    return bytes.str();
  };
  models::HfSaveOptions options;
  options.dtypes = dtypes;
  if (auto it = dtypes.find("model.embed_tokens.weight"); it != dtypes.end())
    options.otherDType = it->second;
  // The source's own config.json: training changes no field of it, and it
  // carries what Kiln does not read (token ids, dtype, transformers_version).
  KILN_ASSIGN_OR_RETURN(options.configJson,
                        read(fs::path(source) / "config.json"));
  KILN_RETURN_IF_ERROR(
      models::saveHfCheckpoint(executor, config, dir, options));
  std::error_code ec;
  if (fs::equivalent(source, dir, ec))
    return absl::OkStatus(); // saved over its source: the files are there
  for (const std::string &name : copiedFiles()) {
    fs::path from = fs::path(source) / name;
    if (!fs::exists(from))
      continue;
    KILN_ASSIGN_OR_RETURN(std::string bytes, read(from));
    KILN_RETURN_IF_ERROR(
        models::writeFileAtomically((fs::path(dir) / name).string(), bytes));
  }
  return absl::OkStatus();
}

} // namespace kiln::train
