//===- HfModelDir.cpp - a Hugging Face model folder, read once ------------===//

#include "models/deepseek/HfModelDir.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "executor/UntrustedJson.h"
#include "models/tokenizer/TokenizerConfig.h"
#include "nlohmann/json.hpp"

namespace kiln::models {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

absl::StatusOr<std::string> readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat("error reading ", path));
  return text.str();
}

absl::StatusOr<json> readJsonObject(const std::string &path) {
  absl::StatusOr<std::string> text = readText(path);
  if (!text.ok())
    return text.status();
  absl::StatusOr<json> parsed = parseUntrustedJson(*text, path);
  if (!parsed.ok())
    return parsed.status();
  if (!parsed->is_object())
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a JSON object"));
  return parsed;
}

/// bos_token/eos_token are a string or an AddedToken object.
std::string tokenSpelling(const json &config, const char *field) {
  auto it = config.find(field);
  if (it == config.end())
    return "";
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_object() && it->contains("content") &&
      (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return "";
}

/// chat_template is the Jinja source, or a list of named ones.
absl::StatusOr<std::string> jinjaOf(const json &config,
                                    const std::string &file) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null())
    return std::string();
  if (it->is_string())
    return it->get<std::string>();
  if (it->is_array())
    for (const json &named : *it)
      if (named.is_object() && named.value("name", "") == "default" &&
          named.contains("template") && named["template"].is_string())
        return named["template"].get<std::string>();
  return absl::InvalidArgumentError(absl::StrCat(
      file, ": chat_template must be a string or a list holding a template "
            "named \"default\""));
}

} // namespace

absl::StatusOr<HfModelDir> openHfModelDir(const std::string &path,
                                          const std::string &chatTemplate) {
  HfModelDir dir;
  dir.path = path;
  if (!fs::is_directory(path))
    return absl::NotFoundError(
        absl::StrCat("model directory '", path, "' does not exist"));
  std::string configJson = (fs::path(path) / "config.json").string();
  if (!fs::exists(configJson))
    return absl::NotFoundError(
        absl::StrCat("model directory '", path, "' has no config.json"));
  absl::StatusOr<DeepseekV3Config> config = readDeepseekV3Config(configJson);
  if (!config.ok())
    return config.status();
  dir.config = *config;

  std::string configFile = (fs::path(path) / "tokenizer_config.json").string();
  json tokConfig = json::object();
  if (fs::exists(configFile)) {
    absl::StatusOr<json> read = readJsonObject(configFile);
    if (!read.ok())
      return read.status();
    tokConfig = *std::move(read);
  }
  std::string bos = tokenSpelling(tokConfig, "bos_token");
  if (tokConfig.value("tokenizer_class", "") ==
      std::string(tokenizer::kByteTokenizerClass)) {
    dir.tokenizer = tokenizer::byteTextTokenizer();
  } else {
    std::string tokenizerJson = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(tokenizerJson))
      return absl::NotFoundError(
          absl::StrCat("model directory '", path,
                       "' has no tokenizer.json and its "
                       "tokenizer_config.json does not name tokenizer_class \"",
                       tokenizer::kByteTokenizerClass, "\""));
    absl::StatusOr<std::unique_ptr<tokenizer::TextTokenizer>> tok =
        tokenizer::bpeTextTokenizer(tokenizerJson, bos,
                                    tokenSpelling(tokConfig, "eos_token"));
    if (!tok.ok())
      return tok.status();
    dir.tokenizer = *std::move(tok);
  }
  if (dir.tokenizer->vocabSize() > dir.config.vocabSize)
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer has ", dir.tokenizer->vocabSize(),
        " tokens but config.json's vocab_size is ", dir.config.vocabSize));

  if (!chatTemplate.empty()) {
    absl::StatusOr<tokenizer::ChatTemplate> t =
        tokenizer::ChatTemplate::byName(chatTemplate, bos);
    if (!t.ok())
      return t.status();
    dir.chatTemplate = *t;
    dir.chatTemplateSource = absl::StrCat("the name ", chatTemplate);
    return dir;
  }
  // transformers 5 saves the template as its own file, which wins over a
  // tokenizer_config.json field (as transformers reads them).
  std::string jinjaFile = (fs::path(path) / "chat_template.jinja").string();
  std::string source = configFile;
  std::string jinja;
  if (fs::exists(jinjaFile)) {
    absl::StatusOr<std::string> text = readText(jinjaFile);
    if (!text.ok())
      return text.status();
    jinja = *std::move(text);
    source = jinjaFile;
  } else {
    absl::StatusOr<std::string> text = jinjaOf(tokConfig, configFile);
    if (!text.ok())
      return text.status();
    jinja = *std::move(text);
  }
  if (jinja.empty())
    return dir;
  absl::StatusOr<tokenizer::ChatTemplate> t =
      jinja.rfind("kiln:", 0) == 0
          ? tokenizer::ChatTemplate::byName(jinja, bos)
          : tokenizer::ChatTemplate::fromJinja(jinja, bos);
  if (!t.ok())
    return absl::Status(t.status().code(),
                        absl::StrCat(source, ": ", t.status().message()));
  dir.chatTemplate = *t;
  dir.chatTemplateSource = fs::path(source).filename().string();
  return dir;
}

} // namespace kiln::models
