//===- ModelDir.cpp - what a served model directory holds -----------------===//

#include "serving/ModelDir.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "models/tokenizer/TokenizerConfig.h"
#include "nlohmann/json.hpp"

namespace kiln::serving {

namespace {

using json = nlohmann::json;

absl::StatusOr<json> readJson(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  json parsed = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object())
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

absl::StatusOr<ModelDir> openModelDir(const std::string &path,
                                      const std::string &chatTemplate) {
  namespace fs = std::filesystem;
  ModelDir dir;
  dir.path = path;
  if (!fs::is_directory(path))
    return absl::NotFoundError(
        absl::StrCat("model directory '", path, "' does not exist"));
  auto config =
      models::readDeepseekV3Config((fs::path(path) / "config.json").string());
  if (!config.ok())
    return config.status();
  dir.config = *config;

  std::string configFile = (fs::path(path) / "tokenizer_config.json").string();
  json tokConfig = json::object();
  if (fs::exists(configFile)) {
    auto read = readJson(configFile);
    if (!read.ok())
      return read.status();
    tokConfig = *read;
  }
  std::string bos = tokenSpelling(tokConfig, "bos_token");
  if (tokConfig.value("tokenizer_class", "") ==
      std::string(tokenizer::kByteTokenizerClass)) {
    dir.tokenizer = byteTextTokenizer();
  } else {
    std::string tokenizerJson = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(tokenizerJson))
      return absl::NotFoundError(
          absl::StrCat("model directory '", path,
                       "' has no tokenizer.json and its "
                       "tokenizer_config.json does not name tokenizer_class \"",
                       tokenizer::kByteTokenizerClass, "\""));
    auto tok = bpeTextTokenizer(tokenizerJson, bos,
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
    auto t = tokenizer::ChatTemplate::byName(chatTemplate, bos);
    if (!t.ok())
      return t.status();
    dir.chatTemplate = *t;
    return dir;
  }
  auto jinja = jinjaOf(tokConfig, configFile);
  if (!jinja.ok())
    return jinja.status();
  if (jinja->empty())
    return dir;
  auto t = jinja->rfind("kiln:", 0) == 0
               ? tokenizer::ChatTemplate::byName(*jinja, bos)
               : tokenizer::ChatTemplate::fromJinja(*jinja, bos);
  if (!t.ok())
    return absl::Status(t.status().code(),
                        absl::StrCat(configFile, ": ", t.status().message()));
  dir.chatTemplate = *t;
  return dir;
}

} // namespace kiln::serving
