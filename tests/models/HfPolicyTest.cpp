//===- HfPolicyTest.cpp - a Hugging Face policy folder against transformers
//===//
//
// tests/fixtures/hf_policy holds two random-init DeepseekV3ForCausalLM
// folders made by make_hf_policy.py with transformers 5.17 (an R1-style and
// a ChatML chat template) and reference.json: transformers' rendering of
// three conversations, their ids, and the last position's logits of an f32
// forward of the bf16 weights. Kiln must render and tokenize exactly as
// transformers did and give the same logits; broken folders are errors that
// name what is wrong.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "models/deepseek/HfModelDir.h"
#include "models/train/PolicyText.h"
#include "models/train/TrainConfig.h"
#include "nlohmann/json.hpp"
#include "tests/models/HfLogits.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/hf_policy/";

json reference() {
  std::ifstream in(kFixtures + "reference.json");
  return json::parse(in);
}

std::vector<tokenizer::ChatMessage> messagesOf(const json &c) {
  std::vector<tokenizer::ChatMessage> messages;
  for (const json &m : c["messages"])
    messages.push_back({m["role"], m["content"]});
  return messages;
}

TEST(HfPolicy, TemplatesRenderAndTokenizeAsTransformers) {
  json ref = reference();
  for (const auto &[name, kind] :
       std::vector<std::pair<std::string, std::string>>{{"r1", "deepseek-r1"},
                                                        {"chatml", "chatml"}}) {
    auto dir = openHfModelDir(kFixtures + name);
    ASSERT_TRUE(dir.ok()) << dir.status();
    ASSERT_TRUE(dir->chatTemplate) << name;
    EXPECT_EQ(dir->chatTemplate->name(), kind);
    EXPECT_EQ(dir->chatTemplateSource, "chat_template.jinja");
    EXPECT_EQ(dir->tokenizer->eosId(), 1);
    for (const json &c : ref[name]["cases"]) {
      auto text = dir->chatTemplate->render(messagesOf(c));
      ASSERT_TRUE(text.ok()) << text.status();
      EXPECT_EQ(*text, c["text"].get<std::string>()) << name;
      auto ids = dir->tokenizer->encode(*text);
      ASSERT_TRUE(ids.ok()) << ids.status();
      EXPECT_EQ(*ids, c["ids"].get<std::vector<int64_t>>()) << name;
    }
  }
}

TEST(HfPolicy, ForwardMatchesTransformers) {
  json ref = reference();
  auto config = readDeepseekV3Config(kFixtures + "r1/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  std::vector<std::vector<int64_t>> rows;
  std::vector<const json *> cases;
  for (const char *name : {"r1", "chatml"})
    for (const json &c : ref[name]["cases"]) {
      rows.push_back(c["ids"].get<std::vector<int64_t>>());
      cases.push_back(&c);
    }
  // Both folders hold the same weights.
  auto logits = lastPositionLogits(*config, kFixtures + "r1", rows);
  ASSERT_TRUE(logits.ok()) << logits.status();
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<double> want =
        (*cases[i])["last_logits"].get<std::vector<double>>();
    const std::vector<float> &got = (*logits)[i];
    ASSERT_EQ(got.size(), want.size());
    for (size_t v = 0; v < got.size(); ++v) {
      maxDiff = std::max(maxDiff, std::abs(got[v] - want[v]));
      maxRef = std::max(maxRef, std::abs(want[v]));
    }
    int64_t argmax = std::max_element(got.begin(), got.end()) - got.begin();
    EXPECT_EQ(argmax, (*cases[i])["next_token"].get<int64_t>()) << "case " << i;
  }
  std::printf("hf_policy parity over %zu last positions: max|d| = %.3g, "
              "max|ref| = %.3g\n",
              rows.size(), maxDiff, maxRef);
  // reference.json rounds to 6 decimals (5e-7); f32 sums in another order
  // add a few ulps of the largest activations.
  EXPECT_LE(maxDiff, 1e-5);
}

/// A copy of the R1 fixture to break.
std::string copyOfR1(const std::string &name) {
  std::string dir = testing::TempDir() + "/kiln-hf-policy-" + name;
  fs::remove_all(dir);
  fs::copy(kFixtures + "r1", dir);
  return dir;
}

std::string openError(const std::string &dir, const std::string &byName = "") {
  auto opened = openHfModelDir(dir, byName);
  EXPECT_FALSE(opened.ok()) << dir;
  return opened.ok() ? "" : std::string(opened.status().message());
}

TEST(HfPolicy, BrokenFoldersAreClearErrors) {
  {
    std::string dir = copyOfR1("no-tokenizer");
    fs::remove(dir + "/tokenizer.json");
    std::string message = openError(dir);
    EXPECT_NE(message.find("has no tokenizer.json"), std::string::npos)
        << message;
  }
  {
    std::string dir = copyOfR1("unknown-template");
    std::ofstream(dir + "/chat_template.jinja")
        << "{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
           "<|end_header_id|>{{ m['content'] }}<|eot_id|>{% endfor %}";
    std::string message = openError(dir);
    EXPECT_NE(message.find("chat_template.jinja: unknown chat template "
                           "\"{% for m in messages %}<|start_header_id|>"),
              std::string::npos)
        << message;
    // A built-in template chosen by name replaces it.
    auto named = openHfModelDir(dir, "chatml");
    ASSERT_TRUE(named.ok()) << named.status();
    EXPECT_EQ(named->chatTemplate->name(), "chatml");
    EXPECT_NE(openError(dir, "llama-3").find("unknown chat template 'llama-3'"),
              std::string::npos);
  }
  {
    // transformers 4 kept the template in tokenizer_config.json.
    std::string dir = copyOfR1("config-template");
    std::ifstream jinja(dir + "/chat_template.jinja");
    std::string source((std::istreambuf_iterator<char>(jinja)),
                       std::istreambuf_iterator<char>());
    fs::remove(dir + "/chat_template.jinja");
    std::ifstream in(dir + "/tokenizer_config.json");
    json config = json::parse(in);
    config["chat_template"] = source;
    std::ofstream(dir + "/tokenizer_config.json") << config.dump();
    auto opened = openHfModelDir(dir);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->chatTemplate->name(), "deepseek-r1");
    EXPECT_EQ(opened->chatTemplateSource, "tokenizer_config.json");
  }
  {
    // No template anywhere: serving can still complete text, training
    // cannot render prompts.
    std::string dir = copyOfR1("no-template");
    fs::remove(dir + "/chat_template.jinja");
    auto opened = openHfModelDir(dir);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_FALSE(opened->chatTemplate);
    auto config = train::parseTrainConfig(
        "mode: \"grpo\" model { hf_checkpoint: \"" + dir + "\" }", "t");
    ASSERT_TRUE(config.ok()) << config.status();
    auto text = train::PolicyText::create(*config);
    ASSERT_FALSE(text.ok());
    EXPECT_NE(text.status().message().find("has no chat template"),
              std::string::npos)
        << text.status();
  }
  {
    std::string dir = copyOfR1("llama");
    std::ofstream(dir + "/config.json")
        << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": 64, "vocab_size": 400})";
    std::string message = openError(dir);
    EXPECT_NE(message.find("config.json"), std::string::npos) << message;
    EXPECT_NE(message.find("llama"), std::string::npos) << message;
  }
  EXPECT_NE(openError(testing::TempDir() + "/kiln-no-such-folder")
                .find("does not exist"),
            std::string::npos);
}

} // namespace
} // namespace kiln::models
