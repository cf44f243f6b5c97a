//===- ServeHfDirTest.cpp - serving a Hugging Face model directory --------===//
//
// A DeepSeek-V3 directory as transformers writes one (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json with DeepSeek-R1's
// chat template and AddedToken special tokens): the template is recognised,
// the byte-level BPE tokenizer read, and a chat answer over HTTP equals
// offline generate() on the rendered prompt, split at </think>.
//
//===----------------------------------------------------------------------===//

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "executor/Executor.h"
#include "httplib.h"
#include "models/deepseek/Generate.h"
#include "models/deepseek/HfCheckpoint.h"
#include "models/deepseek/HfModelDir.h"
#include "models/serve/ServeGraph.h"
#include "models/train/PolicyConfig.h"
#include "nlohmann/json.hpp"
#include "serving/Engine.h"
#include "serving/HttpServer.h"

#include "gtest/gtest.h"

namespace kiln::serving {
namespace {

/// Serving runs the CPU executor batch-invariant (kiln-serve does too).
ExecutorOptions invariant() {
  ExecutorOptions options;
  options.batchInvariant = true;
  return options;
}

using json = nlohmann::json;

const std::string kFixture =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/tokenizer/bytelevel.json";

// The parts of DeepSeek-R1's chat_template that identify it.
const char *kR1Jinja =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt "
    "= false %}{% endif %}{{ bos_token }}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{'<\xEF\xBD\x9CUser\xEF\xBD\x9C>' + "
    "message['content']}}{%- endif %}{%- endfor -%}{% if add_generation_prompt "
    "%}{{'<\xEF\xBD\x9C"
    "Assistant\xEF\xBD\x9C><think>\\n'}}{% endif %}";

TEST(ServeHfDir, DeepseekR1DirectoryOverHttp) {
  std::string dir = testing::TempDir() + "/kiln-serve-hf-dir";
  std::filesystem::create_directories(dir);
  // DeepSeek-R1 spells <think> as a plain added token: it stays in the text.
  std::ifstream in(kFixture);
  json tokenizerJson = json::parse(in);
  for (json &t : tokenizerJson["added_tokens"])
    if (t["content"] == "<think>" || t["content"] == "</think>")
      t["special"] = false;
  std::ofstream(dir + "/tokenizer.json") << tokenizerJson.dump();
  std::ofstream(dir + "/tokenizer_config.json") << json{
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<bos>"}}},
      {"eos_token", "<eos>"},
      {"chat_template", kR1Jinja}}.dump();

  models::DeepseekV3Config config = *train::policyConfig({});
  config.vocabSize = 502;
  auto exe = models::compileServeModel(config, {4, 64}, "host", /*seed=*/9);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto offline = Executor::create(*exe, invariant());
  ASSERT_TRUE(offline.ok());
  ASSERT_TRUE((*offline)->initializeState().ok());
  ASSERT_TRUE(models::saveHfCheckpoint(**offline, config, dir).ok());

  auto model = models::openHfModelDir(dir);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE(model->chatTemplate);
  EXPECT_EQ(model->chatTemplate->name(), "deepseek-r1");
  EXPECT_EQ(model->tokenizer->eosId(), 2);

  auto runner = Executor::create(*exe, invariant());
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE(models::loadHfCheckpoint(**runner, config, dir).ok());
  Metrics metrics;
  EngineOptions options;
  options.eosId = model->tokenizer->eosId();
  options.metrics = &metrics;
  auto engine = Engine::create(**runner, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ServerOptions serverOptions;
  serverOptions.port = 0;
  serverOptions.modelName = "r1";
  HttpServer http({**engine, *model->tokenizer, &*model->chatTemplate, metrics},
                  serverOptions);
  ASSERT_TRUE(http.bind().ok());
  std::thread serving([&] { (void)http.serve(); });

  httplib::Client client("127.0.0.1", http.port());
  client.set_read_timeout(60, 0);
  json body = {{"model", "r1"},
               {"messages", {{{"role", "user"}, {"content", "Kiln adds 2+2"}}}},
               {"temperature", 0.9},
               {"seed", 4},
               {"max_tokens", 24},
               {"return_token_ids", true}};
  auto res =
      client.Post("/v1/chat/completions", body.dump(), "application/json");
  http.stop();
  serving.join();
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  json answer = json::parse(res->body);

  std::string prompt =
      *model->chatTemplate->render({{"user", "Kiln adds 2+2"}});
  EXPECT_EQ(prompt,
            "<bos><\xEF\xBD\x9CUser\xEF\xBD\x9C>Kiln adds 2+2<\xEF\xBD\x9C"
            "Assistant\xEF\xBD\x9C><think>\n");
  models::GenerationRequest request;
  request.prompt = *model->tokenizer->encode(prompt);
  EXPECT_EQ(request.prompt.front(), 1) << "the BOS is one added token";
  EXPECT_EQ(answer["prompt_token_ids"].get<std::vector<int64_t>>(),
            request.prompt);
  request.maxNewTokens = 24;
  request.sampling.temperature = 0.9f;
  request.sampling.seed = 4;
  models::GenerateOptions generateOptions;
  generateOptions.eosId = 2;
  auto expected = models::generate(**offline, {request}, generateOptions);
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::vector<int64_t> ids = (*expected)[0].tokens;
  EXPECT_EQ(answer["choices"][0]["token_ids"].get<std::vector<int64_t>>(), ids);
  if (!ids.empty() && ids.back() == 2)
    ids.pop_back();
  auto split = tokenizer::splitReasoning(*model->tokenizer->decode(ids));
  auto same = [](const std::string &a, const json &b) {
    return json(a).dump(-1, ' ', false, json::error_handler_t::replace) ==
           b.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  const json &message = answer["choices"][0]["message"];
  EXPECT_TRUE(same(split.reasoning, message["reasoning_content"]))
      << message.dump();
  EXPECT_TRUE(same(split.content, message["content"])) << message.dump();
}

} // namespace
} // namespace kiln::serving

namespace kiln::serving {
namespace {

// kiln-serve --precision: the fp8 and int4 serving models quantize their
// weight GEMMs in the graph, so they read the same Hugging Face checkpoint
// as the model's own types, and their bundle keys tell them apart.
TEST(ServeHfDir, PrecisionPoliciesReadTheSameCheckpoint) {
  std::string dir = ::testing::TempDir() + "/serve_precision_ckpt";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  models::DeepseekV3Config config = *train::policyConfig({});
  config.vocabSize = 64;
  models::ServeShape shape{2, 16, 0};
  auto exe = models::compileServeModel(config, shape, "host", /*seed=*/9);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto source = Executor::create(*exe, invariant());
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->initializeState().ok());
  ASSERT_TRUE(models::saveHfCheckpoint(**source, config, dir).ok());
  std::set<std::string> buckets{models::serveBucket(shape)};
  for (const char *precision : {"fp8", "int4"}) {
    shape.precision = precision;
    buckets.insert(models::serveBucket(shape));
    auto narrow = models::compileServeModel(config, shape, "host", 9);
    ASSERT_TRUE(narrow.ok()) << precision << ": " << narrow.status();
    int quantizes = 0;
    for (const proto::EntryPoint &entry : narrow->entries())
      for (const proto::Step &step : entry.steps())
        quantizes += step.op() == "quantize";
    EXPECT_GT(quantizes, 0) << precision;
    auto runner = Executor::create(*narrow, invariant());
    ASSERT_TRUE(runner.ok());
    EXPECT_TRUE(models::loadHfCheckpoint(**runner, config, dir).ok())
        << precision;
  }
  EXPECT_EQ(buckets.size(), 3u) << "the bundle keys must differ by precision";
}

} // namespace
} // namespace kiln::serving
