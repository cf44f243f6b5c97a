//===- ServeHttpTest.cpp - kiln-serve's API over real HTTP on 127.0.0.1 ---===//
//
// A seed-initialised model of `make demo`'s configuration, written as a model
// directory and served on an ephemeral port of 127.0.0.1; cpp-httplib's
// client checks answers against offline generate() with the same seeds,
// streaming against whole answers, 32 concurrent clients against each alone,
// and that thousands of malformed requests each get a 4xx while the server
// stays up.
//
//===----------------------------------------------------------------------===//

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "executor/Executor.h"
#include "httplib.h"
#include "models/deepseek/Generate.h"
#include "models/deepseek/HfCheckpoint.h"
#include "models/deepseek/HfModelDir.h"
#include "models/serve/ServeGraph.h"
#include "models/tokenizer/TokenizerConfig.h"
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

constexpr int64_t kSlots = 8, kContext = 64;
const char *kTemplate = "Q: {question}\nA: ";

/// A running server and what it serves.
struct Served {
  std::unique_ptr<EntryRunner> runner;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<HttpServer> http;
  std::thread thread;

  ~Served() {
    if (http)
      http->stop();
    if (thread.joinable())
      thread.join();
    http.reset();
    engine.reset();
  }
};

class ServeHttp : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    config = new models::DeepseekV3Config(*train::policyConfig({}));
    // Chunks of 8: the prompts here (13 to 17 tokens) take two or three.
    auto exe = models::compileServeModel(*config, {kSlots, kContext, 8}, "host",
                                         /*seed=*/3);
    ASSERT_TRUE(exe.ok()) << exe.status();
    executable = new proto::Executable(*exe);
    // The model directory, as kiln-train writes one.
    dir = new std::string(testing::TempDir() + "/kiln-serve-http-model");
    std::filesystem::create_directories(*dir);
    auto init = Executor::create(*exe, invariant());
    ASSERT_TRUE(init.ok()) << init.status();
    ASSERT_TRUE((*init)->initializeState().ok());
    ASSERT_TRUE(models::saveHfCheckpoint(**init, *config, *dir).ok());
    std::ofstream(*dir + "/tokenizer_config.json")
        << tokenizer::byteTokenizerConfigJson(kTemplate, kContext);
    offline = init->release();

    auto opened = models::openHfModelDir(*dir);
    ASSERT_TRUE(opened.ok()) << opened.status();
    model = new models::HfModelDir(*std::move(opened));
    metrics = new Metrics();
    served = start(256).release();
    ASSERT_TRUE(served);
  }
  static void TearDownTestSuite() {
    delete served;
    delete offline;
    delete model;
    delete metrics;
    delete executable;
    delete config;
    delete dir;
  }
  void SetUp() override {
    if (!served)
      GTEST_SKIP() << "suite setup failed";
  }

  /// A server over its own executor loaded from the model directory.
  static std::unique_ptr<Served> start(int64_t maxWaiting) {
    auto s = std::make_unique<Served>();
    auto runner = Executor::create(*executable, invariant());
    EXPECT_TRUE(runner.ok()) << runner.status();
    if (!runner.ok())
      return nullptr;
    s->runner = *std::move(runner);
    EXPECT_TRUE(models::loadHfCheckpoint(*s->runner, *config, *dir).ok());
    EngineOptions options;
    options.maxWaiting = maxWaiting;
    options.eosId = model->tokenizer->eosId();
    options.metrics = metrics;
    auto engine = Engine::create(*s->runner, options);
    EXPECT_TRUE(engine.ok()) << engine.status();
    if (!engine.ok())
      return nullptr;
    s->engine = *std::move(engine);
    ServerOptions server;
    server.port = 0;
    server.threads = 48;
    server.maxBodyBytes = 64 << 10;
    server.modelName = "demo";
    s->http = std::make_unique<HttpServer>(
        ServedModel{*s->engine, *model->tokenizer, &*model->chatTemplate,
                    *metrics},
        server);
    EXPECT_TRUE(s->http->bind().ok());
    HttpServer *http = s->http.get();
    s->thread = std::thread([http] { (void)http->serve(); });
    return s;
  }

  static httplib::Client client() {
    httplib::Client c("127.0.0.1", served->http->port());
    c.set_read_timeout(60, 0);
    return c;
  }

  /// The offline answer: generate() on the directory's weights.
  static std::vector<int64_t> offlineTokens(const std::string &question,
                                            float temperature, int64_t seed,
                                            int64_t maxTokens) {
    auto prompt = model->tokenizer->encode(
        *model->chatTemplate->render({{"user", question}}));
    models::GenerationRequest r;
    r.prompt = *prompt;
    r.maxNewTokens = maxTokens;
    r.sampling.temperature = temperature;
    r.sampling.seed = seed;
    models::GenerateOptions options;
    options.eosId = model->tokenizer->eosId();
    auto out = models::generate(*offline, {r}, options);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0].tokens : std::vector<int64_t>{};
  }

  static json chatBody(const std::string &question, float temperature,
                       int64_t seed, int64_t maxTokens) {
    return {{"model", "demo"},
            {"messages", {{{"role", "user"}, {"content", question}}}},
            {"temperature", temperature},
            {"seed", seed},
            {"max_tokens", maxTokens},
            {"return_token_ids", true}};
  }

  static json post(httplib::Client &c, const std::string &path,
                   const json &body, int expectStatus = 200) {
    auto res = c.Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res) << "no answer: " << httplib::to_string(res.error());
    if (!res)
      return json();
    EXPECT_EQ(res->status, expectStatus) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  /// The JSON payloads of an SSE body, checking it ends with [DONE].
  static std::vector<json> events(const std::string &body) {
    std::vector<json> out;
    size_t at = 0;
    bool done = false;
    while (at < body.size()) {
      size_t end = body.find("\n\n", at);
      EXPECT_NE(end, std::string::npos) << "unterminated event";
      if (end == std::string::npos)
        break;
      std::string event = body.substr(at, end - at);
      at = end + 2;
      if (event.rfind(":", 0) == 0) // an SSE comment (keep-alive)
        continue;
      EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
      EXPECT_FALSE(done) << "event after [DONE]";
      if (event == "data: [DONE]") {
        done = true;
        continue;
      }
      out.push_back(json::parse(event.substr(6), nullptr, false));
      EXPECT_FALSE(out.back().is_discarded()) << event;
    }
    EXPECT_TRUE(done) << "no data: [DONE]";
    return out;
  }

  static models::DeepseekV3Config *config;
  static proto::Executable *executable;
  static std::string *dir;
  static EntryRunner *offline;
  static models::HfModelDir *model;
  static Metrics *metrics;
  static Served *served;
};

models::DeepseekV3Config *ServeHttp::config = nullptr;
proto::Executable *ServeHttp::executable = nullptr;
std::string *ServeHttp::dir = nullptr;
EntryRunner *ServeHttp::offline = nullptr;
models::HfModelDir *ServeHttp::model = nullptr;
Metrics *ServeHttp::metrics = nullptr;
Served *ServeHttp::served = nullptr;

TEST_F(ServeHttp, ChatMatchesOfflineGenerate) {
  httplib::Client c = client();
  for (auto [temperature, seed] :
       std::vector<std::pair<float, int64_t>>{{0, 0}, {0.9f, 11}, {1.0f, 12}}) {
    json answer = post(c, "/v1/chat/completions",
                       chatBody("12+34=?", temperature, seed, 20));
    std::vector<int64_t> expected =
        offlineTokens("12+34=?", temperature, seed, 20);
    ASSERT_FALSE(expected.empty());
    const json &choice = answer["choices"][0];
    EXPECT_EQ(choice["token_ids"].get<std::vector<int64_t>>(), expected)
        << "temperature " << temperature;
    // The text is the tokens' (EOS dropped), split at </think>.
    std::vector<int64_t> ids = expected;
    if (ids.back() == *model->tokenizer->eosId())
      ids.pop_back();
    auto split = tokenizer::splitReasoning(*model->tokenizer->decode(ids));
    json expectText = split.reasoning, expectContent = split.content;
    EXPECT_EQ(choice["message"]["reasoning_content"].dump(
                  -1, ' ', false, json::error_handler_t::replace),
              expectText.dump(-1, ' ', false, json::error_handler_t::replace));
    EXPECT_EQ(
        choice["message"]["content"].dump(-1, ' ', false,
                                          json::error_handler_t::replace),
        expectContent.dump(-1, ' ', false, json::error_handler_t::replace));
    EXPECT_EQ(choice["finish_reason"],
              expected.size() == 20 && expected.back() != 258 ? "length"
                                                              : "stop");
    EXPECT_EQ(answer["object"], "chat.completion");
    EXPECT_EQ(answer["model"], "demo");
    EXPECT_EQ(answer["usage"]["completion_tokens"], expected.size());
    EXPECT_EQ(answer["usage"]["prompt_tokens"],
              answer["prompt_token_ids"].size());
  }
}

TEST_F(ServeHttp, CompletionsAndStreamingAgree) {
  httplib::Client c = client();
  json body = {{"model", "demo"},  {"prompt", "<bos>Q: 5+5=?\nA: "},
               {"max_tokens", 16}, {"temperature", 0.8},
               {"seed", 5},        {"logprobs", 2}};
  json whole = post(c, "/v1/completions", body);
  ASSERT_TRUE(whole.is_object());
  EXPECT_EQ(whole["object"], "text_completion");
  const json &lp = whole["choices"][0]["logprobs"];
  ASSERT_TRUE(lp.is_object());
  EXPECT_EQ(lp["tokens"].size(), lp["token_logprobs"].size());
  // Keyed by text, so two tokens spelled alike (control tokens spell "")
  // share an entry, as in OpenAI's legacy format.
  for (const json &top : lp["top_logprobs"]) {
    EXPECT_GE(top.size(), 1u);
    EXPECT_LE(top.size(), 2u);
  }

  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto res = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  std::string text;
  json usage;
  std::string finish;
  for (const json &e : events(res->body)) {
    ASSERT_TRUE(e.contains("usage"));
    if (e["choices"].empty()) {
      usage = e["usage"];
      continue;
    }
    EXPECT_TRUE(e["usage"].is_null());
    text += e["choices"][0]["text"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null())
      finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(json(text).dump(-1, ' ', false, json::error_handler_t::replace),
            whole["choices"][0]["text"].dump(-1, ' ', false,
                                             json::error_handler_t::replace));
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
  EXPECT_EQ(usage, whole["usage"]);
}

TEST_F(ServeHttp, ChatLogprobsListEveryTokenWithItsTopAlternatives) {
  httplib::Client c = client();
  json body = {{"model", "demo"},
               {"messages", {{{"role", "user"}, {"content", "3+4=?"}}}},
               {"max_tokens", 8},
               {"temperature", 0.7},
               {"seed", 9},
               {"logprobs", true},
               {"top_logprobs", 3}};
  json whole = post(c, "/v1/chat/completions", body);
  ASSERT_TRUE(whole.is_object());
  const json &content = whole["choices"][0]["logprobs"]["content"];
  ASSERT_TRUE(content.is_array());
  EXPECT_EQ(content.size(), whole["usage"]["completion_tokens"]);
  for (const json &entry : content) {
    ASSERT_TRUE(entry["logprob"].is_number());
    EXPECT_LE(entry["logprob"].get<double>(), 0.0);
    ASSERT_TRUE(entry["bytes"].is_array());
    ASSERT_EQ(entry["top_logprobs"].size(), 3u);
    // The alternatives come most likely first, and the sampled token's
    // log-probability is at most the best of them.
    double previous = 0;
    for (const json &top : entry["top_logprobs"]) {
      double lp = top["logprob"].get<double>();
      EXPECT_LE(lp, previous + 1e-9);
      previous = lp;
    }
    EXPECT_LE(entry["logprob"].get<double>(),
              entry["top_logprobs"][0]["logprob"].get<double>() + 1e-6);
  }

  // top_logprobs without logprobs is OpenAI's 400.
  body["logprobs"] = false;
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
}

TEST_F(ServeHttp, ChatStreamsReasoningThenContent) {
  httplib::Client c = client();
  json body = chatBody("7+8=?", 1.0f, 21, 30);
  body["n"] = 2;
  json whole = post(c, "/v1/chat/completions", body);
  body["stream"] = true;
  auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  std::vector<std::string> reasoning(2), content(2);
  std::vector<bool> sawContent(2, false);
  std::vector<std::vector<int64_t>> ids(2);
  for (const json &e : events(res->body)) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    const json &choice = e["choices"][0];
    int i = choice["index"];
    const json &delta = choice["delta"];
    if (delta.contains("reasoning_content")) {
      EXPECT_FALSE(sawContent[i]) << "reasoning after content";
      reasoning[i] += delta["reasoning_content"].get<std::string>();
    }
    if (delta.contains("content")) {
      content[i] += delta["content"].get<std::string>();
      sawContent[i] =
          sawContent[i] || !delta["content"].get<std::string>().empty();
    }
    // Each chunk carries the tokens that arrived since the last one.
    if (choice.contains("token_ids"))
      for (int64_t id : choice["token_ids"].get<std::vector<int64_t>>())
        ids[i].push_back(id);
  }
  auto same = [](const std::string &a, const json &b) {
    return json(a).dump(-1, ' ', false, json::error_handler_t::replace) ==
           b.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  for (int i = 0; i < 2; ++i) {
    const json &message = whole["choices"][i]["message"];
    EXPECT_TRUE(same(reasoning[i], message["reasoning_content"])) << i;
    EXPECT_TRUE(same(content[i], message["content"])) << i;
    EXPECT_EQ(ids[i],
              whole["choices"][i]["token_ids"].get<std::vector<int64_t>>());
  }
  // Choice i draws with seed + i.
  EXPECT_EQ(ids[1], offlineTokens("7+8=?", 1.0f, 22, 30));
}

TEST_F(ServeHttp, ConcurrentClientsGetWhatTheyGetAlone) {
  // Seeds 100.. once caught the MoE's grouped product computing a token
  // differently by its place among the expert's other tokens.
  const int64_t kSeedBase = 100;
  constexpr int kClients = 32;
  auto question = [](int i) {
    return std::to_string(i * 7 % 100) + "+" + std::to_string(i * 13 % 100) +
           "=?";
  };
  std::vector<std::vector<int64_t>> alone(kClients);
  {
    httplib::Client c = client();
    for (int i = 0; i < kClients; ++i)
      alone[i] = post(c, "/v1/chat/completions",
                      chatBody(question(i), 0.7f, kSeedBase + i,
                               8 + i % 9))["choices"][0]["token_ids"]
                     .get<std::vector<int64_t>>();
  }
  // Offline generate agrees with the lone answers (a sample of them).
  for (int i : {0, 9, 31})
    EXPECT_EQ(alone[i],
              offlineTokens(question(i), 0.7f, kSeedBase + i, 8 + i % 9));

  std::vector<std::future<std::vector<int64_t>>> together;
  for (int i = 0; i < kClients; ++i)
    together.push_back(std::async(std::launch::async, [&, i] {
      httplib::Client c = client();
      json answer = post(c, "/v1/chat/completions",
                         chatBody(question(i), 0.7f, kSeedBase + i, 8 + i % 9));
      return answer["choices"][0]["token_ids"].get<std::vector<int64_t>>();
    }));
  for (int i = 0; i < kClients; ++i)
    EXPECT_EQ(together[i].get(), alone[i]) << "client " << i;
  // More clients than slots: the batch was full and sequences queued.
  std::string text = metrics->render();
  EXPECT_NE(text.find("kiln_batch_occupancy_bucket{le=\"+Inf\"}"),
            std::string::npos);
}

/// The code points of UTF-8 `text` (valid UTF-8 assumed, as the
/// constraint's automaton guarantees).
size_t codePoints(const std::string &text) {
  size_t n = 0;
  for (unsigned char c : text)
    n += (c & 0xC0) != 0x80;
  return n;
}

TEST_F(ServeHttp, ConstrainedRegexOutputMatches) {
  // The reasoning format, with its free parts bounded: the untrained model
  // would otherwise wander to max_tokens before closing a tag.
  const std::string regex =
      "<think>[^<]{0,8}</think><answer>-?[0-9]{1,4}</answer>";
  httplib::Client c = client();
  for (bool stream : {false, true})
    for (int64_t seed : {1, 2, 3}) {
      json body = {{"model", "demo"},     {"prompt", "<bos>Q: 4+4=?\nA: "},
                   {"max_tokens", 40},    {"temperature", 1.0},
                   {"seed", seed},        {"n", 2},
                   {"kiln_regex", regex}, {"return_token_ids", true},
                   {"stream", stream}};
      std::vector<std::string> texts(2), finish(2);
      if (!stream) {
        json answer = post(c, "/v1/completions", body);
        for (int i = 0; i < 2; ++i) {
          texts[i] = answer["choices"][i]["text"];
          finish[i] = answer["choices"][i]["finish_reason"];
        }
      } else {
        auto res = c.Post("/v1/completions", body.dump(), "application/json");
        ASSERT_TRUE(res);
        for (const json &e : events(res->body)) {
          const json &choice = e["choices"][0];
          int i = choice["index"];
          texts[i] += choice["text"].get<std::string>();
          if (!choice["finish_reason"].is_null())
            finish[i] = choice["finish_reason"];
        }
      }
      for (int i = 0; i < 2; ++i) {
        const std::string &text = texts[i];
        SCOPED_TRACE(text);
        // Ends as soon as the pattern is complete, not at max_tokens.
        EXPECT_EQ(finish[i], "stop");
        const std::string open = "<think>", close = "</think><answer>",
                          end = "</answer>";
        ASSERT_EQ(text.rfind(open, 0), 0u);
        size_t mid = text.find(close);
        ASSERT_NE(mid, std::string::npos);
        std::string thought = text.substr(open.size(), mid - open.size());
        EXPECT_EQ(thought.find('<'), std::string::npos);
        EXPECT_LE(codePoints(thought), 8u);
        ASSERT_GE(text.size(), mid + close.size() + end.size());
        EXPECT_EQ(text.substr(text.size() - end.size()), end);
        std::string number = text.substr(
            mid + close.size(), text.size() - end.size() - mid - close.size());
        size_t digits = number.size() - (number.rfind('-', 0) == 0);
        EXPECT_GE(digits, 1u);
        EXPECT_LE(digits, 4u);
        EXPECT_EQ(number.find_first_not_of("-0123456789", 0),
                  std::string::npos);
        EXPECT_EQ(number.find('-', 1), std::string::npos);
      }
    }
}

TEST_F(ServeHttp, ConstrainedJsonSchemaParsesAndValidates) {
  // Short keys: the test model's context (64) leaves 49 tokens of bytes.
  json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "a": {"type": "integer"},
      "b": {"type": "boolean"},
      "w": {"type": "string", "maxLength": 1},
      "t": {"enum": ["x", 7, null]}
    },
    "required": ["a", "b", "t"],
    "additionalProperties": false})");
  httplib::Client c = client();
  int checked = 0;
  for (int64_t seed : {5, 6, 7, 8, 9, 10}) {
    json body = {
        {"model", "demo"},
        {"prompt", "<bos>Q: 1+1=?\nA: "},
        {"max_tokens", 48},
        {"temperature", 1.0},
        {"seed", seed},
        {"response_format",
         {{"type", "json_schema"},
          {"json_schema",
           {{"name", "answer"}, {"strict", true}, {"schema", schema}}}}}};
    json answer = post(c, "/v1/completions", body);
    std::string text = answer["choices"][0]["text"];
    SCOPED_TRACE(text);
    if (answer["choices"][0]["finish_reason"] == "length")
      continue; // a 16-digit integer ran out of tokens: rare, allowed
    json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(v.is_discarded());
    ASSERT_TRUE(v.is_object());
    EXPECT_TRUE(v["a"].is_number_integer());
    EXPECT_TRUE(v["b"].is_boolean());
    if (v.contains("w")) {
      ASSERT_TRUE(v["w"].is_string());
      EXPECT_LE(codePoints(v["w"].get<std::string>()), 1u);
    }
    EXPECT_TRUE(v["t"] == "x" || v["t"] == 7 || v["t"].is_null());
    for (auto it = v.begin(); it != v.end(); ++it)
      EXPECT_TRUE(schema["properties"].contains(it.key())) << it.key();
    ++checked;
  }
  EXPECT_GE(checked, 4);

  // json_object: any object.
  json body = {{"model", "demo"},
               {"prompt", "<bos>Q: 1+1=?\nA: "},
               {"max_tokens", 48},
               {"temperature", 0.0},
               {"response_format", {{"type", "json_object"}}}};
  json answer = post(c, "/v1/completions", body);
  if (answer["choices"][0]["finish_reason"] == "stop") {
    json v = json::parse(answer["choices"][0]["text"].get<std::string>(),
                         nullptr, false);
    EXPECT_TRUE(v.is_object()) << answer;
  }
}

TEST_F(ServeHttp, BadConstraintsAre400NamingTheFault) {
  httplib::Client c = client();
  struct Case {
    const char *extra, *param, *code, *what;
  };
  std::vector<Case> cases = {
      {R"({"kiln_regex": "(a"})", "kiln_regex", "invalid_regex",
       "unclosed '('"},
      {R"({"kiln_regex": "(a)\\1"})", "kiln_regex", "invalid_regex",
       "backreference"},
      {R"({"response_format": {"type": "json_schema", "json_schema": {
           "name": "n", "schema": {"type": "object", "properties": {
             "age": {"type": "integer", "minimum": 0}}}}}})",
       "response_format.json_schema.schema", "invalid_json_schema",
       "'minimum' at #/properties/age"},
      {R"({"response_format": {"type": "xml"}})", "response_format.type", "",
       "'xml'"},
  };
  for (const Case &k : cases) {
    json body = chatBody("1+1=?", 0, 1, 8), extra = json::parse(k.extra);
    for (auto it = extra.begin(); it != extra.end(); ++it)
      body[it.key()] = it.value();
    json e = post(c, "/v1/chat/completions", body, 400);
    SCOPED_TRACE(e.dump());
    ASSERT_TRUE(e.contains("error"));
    EXPECT_EQ(e["error"]["type"], "invalid_request_error");
    EXPECT_EQ(e["error"]["param"], k.param);
    if (*k.code)
      EXPECT_EQ(e["error"]["code"], k.code);
    EXPECT_NE(e["error"]["message"].get<std::string>().find(k.what),
              std::string::npos);
  }
}

TEST_F(ServeHttp, StopStringsCutTheText) {
  httplib::Client c = client();
  int cut = 0;
  for (int seed = 0; seed < 6; ++seed) {
    json body = {{"model", "demo"},  {"prompt", "<bos>Q: 1+2=?\nA: "},
                 {"max_tokens", 24}, {"temperature", 1.0},
                 {"seed", seed},     {"return_token_ids", true}};
    json whole = post(c, "/v1/completions", body);
    std::string text = whole["choices"][0]["text"];
    // An ASCII byte past the start is a stop string with a known answer.
    size_t at = 1;
    while (at < text.size() && !(text[at] >= 'a' && text[at] <= 'z'))
      ++at;
    if (at >= text.size())
      continue;
    std::string stop(1, text[at]);
    body["stop"] = stop;
    json stopped = post(c, "/v1/completions", body);
    EXPECT_EQ(stopped["choices"][0]["text"], text.substr(0, text.find(stop)));
    EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop");
    ++cut;
  }
  EXPECT_GT(cut, 0) << "no completion had a letter to stop at";
}

TEST_F(ServeHttp, ModelsHealthMetricsAndErrors) {
  httplib::Client c = client();
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  json list = json::parse(models->body);
  EXPECT_EQ(list["data"][0]["id"], "demo");
  EXPECT_EQ(list["data"][0]["max_model_len"], kContext);
  EXPECT_EQ(c.Get("/health")->status, 200);
  EXPECT_EQ(c.Get("/v1/models/other")->status, 404);
  auto metricsText = c.Get("/metrics");
  EXPECT_NE(metricsText->body.find("# TYPE kiln_requests_total counter"),
            std::string::npos);

  json e = post(c, "/v1/chat/completions",
                {{"model", "gpt-4"},
                 {"messages", {{{"role", "user"}, {"content", "x"}}}}},
                404);
  EXPECT_EQ(e["error"]["code"], "model_not_found");
  e = post(c, "/v1/completions",
           {{"model", "demo"}, {"prompt", std::string(200, 'x')}}, 400);
  EXPECT_EQ(e["error"]["code"], "context_length_exceeded");
  e = post(c, "/v1/completions", {{"model", "demo"}, {"prompt", {1, 99999}}},
           400);
  EXPECT_EQ(e["error"]["param"], "prompt");
  e = post(c, "/v1/chat/completions",
           {{"model", "demo"},
            {"messages",
             {{{"role", "system"}, {"content", "x"}},
              {{"role", "user"}, {"content", "y"}}}}},
           400);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("kiln"),
            std::string::npos);
  auto big = c.Post("/v1/completions", std::string(100 << 10, ' '),
                    "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_TRUE(json::parse(big->body, nullptr, false).contains("error"));
  auto nowhere = c.Get("/v2/nothing");
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_TRUE(json::parse(nowhere->body, nullptr, false).contains("error"));
}

/// Holds the engine's thread inside onToken until released.
class BlockingSink final : public SequenceSink {
public:
  std::promise<void> entered, release, finished;
  bool first = true;
  bool onToken(int64_t, const TokenLogprob *) override {
    if (first) {
      first = false;
      entered.set_value();
      release.get_future().wait();
    }
    return true;
  }
  /// Set when the first sequence that shares this sink finishes.
  void onFinish(Finish, const std::string &) override {
    if (!finishedOnce.exchange(true))
      finished.set_value();
  }

private:
  std::atomic<bool> finishedOnce{false};
};

TEST_F(ServeHttp, FullQueueIs429WithRetryAfter) {
  std::unique_ptr<Served> small = start(/*maxWaiting=*/0);
  ASSERT_TRUE(small);
  // Occupy every slot, and hold the engine so that none frees up.
  std::vector<SequenceRequest> fill;
  auto blocker = std::make_shared<BlockingSink>();
  std::future<void> entered = blocker->entered.get_future();
  for (int64_t i = 0; i < kSlots; ++i) {
    SequenceRequest r;
    r.prompt = {257, 65};
    r.sampling.maxTokens = 4;
    if (i == 0)
      r.sink = blocker;
    else
      r.sink = std::make_shared<BlockingSink>();
    fill.push_back(std::move(r));
  }
  // Only the first sink blocks; the others must not wait for a release.
  for (size_t i = 1; i < fill.size(); ++i)
    static_cast<BlockingSink &>(*fill[i].sink).first = false;
  ASSERT_TRUE(small->engine->submit(std::move(fill)).ok());
  entered.wait();
  httplib::Client c("127.0.0.1", small->http->port());
  auto res = c.Post("/v1/chat/completions", chatBody("1+1=?", 0, 0, 4).dump(),
                    "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 429);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  EXPECT_EQ(json::parse(res->body)["error"]["type"], "rate_limit_error");
  blocker->release.set_value();
}

/// The count on a "kiln_sequences_finished_total" line of /metrics.
int64_t finishedCount(const std::string &metricsText, const char *reason) {
  std::string key =
      std::string("kiln_sequences_finished_total{reason=\"") + reason + "\"} ";
  size_t at = metricsText.find(key);
  return at == std::string::npos
             ? 0
             : std::atoll(metricsText.c_str() + at + key.size());
}

TEST_F(ServeHttp, ADisconnectedStreamIsCancelled) {
  // Hold the engine so that the streamed request waits in the queue, where
  // only a cancellation can end it without generating.
  auto blocker = std::make_shared<BlockingSink>();
  std::future<void> entered = blocker->entered.get_future();
  std::future<void> held = blocker->finished.get_future();
  SequenceRequest hold;
  hold.prompt = {257, 66};
  hold.sampling.maxTokens = 2;
  hold.sink = blocker;
  std::vector<SequenceRequest> holds;
  holds.push_back(std::move(hold));
  ASSERT_TRUE(served->engine->submit(std::move(holds)).ok());
  entered.wait();
  int64_t cancelledBefore = finishedCount(metrics->render(), "cancelled");

  httplib::Client c = client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  json body = chatBody("9+9=?", 0, 0, 40);
  body["stream"] = true;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  int chunks = 0;
  // The client reads the first chunk (the role) and hangs up.
  req.content_receiver = [&](const char *, size_t, uint64_t, uint64_t) {
    ++chunks;
    return false;
  };
  auto res = c.send(req);
  EXPECT_EQ(chunks, 1);
  EXPECT_EQ(served->engine->waiting(), 1);
  // Idle streams send a keep-alive comment every 0.5 s; a failed write is how
  // the server notices the client left.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  blocker->release.set_value();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (finishedCount(metrics->render(), "cancelled") == cancelledBefore &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(finishedCount(metrics->render(), "cancelled"), cancelledBefore + 1);
  EXPECT_EQ(served->engine->waiting(), 0);
  // The held request finishes after the cancellation is counted; wait for it
  // so that its count does not land in the next test's metrics.
  held.wait();
}

/// Slows the engine down: every token it takes waits `delay` on the engine's
/// thread, which holds up the whole batch's step.
class ThrottleSink final : public SequenceSink {
public:
  explicit ThrottleSink(std::chrono::milliseconds delay) : delay(delay) {}
  std::promise<void> finished;
  bool onToken(int64_t, const TokenLogprob *) override {
    std::this_thread::sleep_for(delay);
    return true;
  }
  void onFinish(Finish, const std::string &) override { finished.set_value(); }

private:
  std::chrono::milliseconds delay;
};

/// A connected TCP socket to 127.0.0.1:`port`, or -1.
int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(ServeHttp, ADisconnectedWholeAnswerIsCancelled) {
  // A throttled neighbour makes every step take 40 ms, so the request below
  // would need about 1.6 s to make its 40 tokens.
  auto throttle = std::make_shared<ThrottleSink>(std::chrono::milliseconds(40));
  std::future<void> throttleDone = throttle->finished.get_future();
  SequenceRequest slow;
  slow.prompt = {257, 67};
  slow.sampling.maxTokens = 60;
  slow.sink = throttle;
  std::vector<SequenceRequest> slows;
  slows.push_back(std::move(slow));
  ASSERT_TRUE(served->engine->submit(std::move(slows)).ok());
  std::string before = metrics->render();
  int64_t cancelledBefore = finishedCount(before, "cancelled");
  int64_t lengthBefore = finishedCount(before, "length");

  // A non-streaming request whose client sends it and hangs up unanswered.
  int fd = connectTo(served->http->port());
  ASSERT_GE(fd, 0);
  std::string body = chatBody("8+8=?", 0, 0, 40).dump();
  std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::write(fd, request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (served->engine->running() < 2 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(served->engine->running(), 2) << "the request never took a slot";
  ::close(fd);

  // The handler notices within a poll or two and cancels: the slot is free
  // while the throttled neighbour (2.4 s in all) still runs.
  while (finishedCount(metrics->render(), "cancelled") == cancelledBefore &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::string after = metrics->render();
  EXPECT_EQ(finishedCount(after, "cancelled"), cancelledBefore + 1);
  EXPECT_EQ(finishedCount(after, "length"), lengthBefore)
      << "the request ran to max_tokens";
  EXPECT_EQ(served->engine->running(), 1);
  EXPECT_EQ(throttleDone.wait_for(std::chrono::seconds(0)),
            std::future_status::timeout)
      << "the neighbour ended first: the check proves nothing";
  throttleDone.wait();
  // The request log counts it as 499 (client closed request).
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (metrics->render().find("status=\"499\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_NE(metrics->render().find(
                "kiln_requests_total{endpoint=\"/v1/chat/completions\","
                "status=\"499\"}"),
            std::string::npos);
}

TEST_F(ServeHttp, BatchedPromptsGetOneChoicePerPromptAndN) {
  httplib::Client c = client();
  const std::vector<std::string> texts = {"<bos>Q: 1+2=?\nA: ",
                                          "<bos>Q: 30+4=?\nA: "};
  const std::vector<std::vector<int64_t>> ids = {{257, 81, 58, 32},
                                                 {257, 49, 50, 43, 51}};
  auto alone = [&](const json &prompt, int64_t seed) {
    json body = {{"model", "demo"},  {"prompt", prompt},
                 {"max_tokens", 10}, {"temperature", 1.0},
                 {"seed", seed},     {"return_token_ids", true}};
    json answer = post(c, "/v1/completions", body);
    return answer["choices"][0]["token_ids"].get<std::vector<int64_t>>();
  };
  for (bool stream : {false, true})
    for (const json &prompts : {json(texts), json(ids)}) {
      SCOPED_TRACE(prompts.dump() + (stream ? " streamed" : ""));
      json body = {
          {"model", "demo"},          {"prompt", prompts},  {"n", 2},
          {"max_tokens", 10},         {"temperature", 1.0}, {"seed", 40},
          {"return_token_ids", true}, {"stream", stream}};
      std::vector<std::vector<int64_t>> got(4);
      json usage;
      if (!stream) {
        json answer = post(c, "/v1/completions", body);
        ASSERT_EQ(answer["choices"].size(), 4u) << answer;
        for (size_t j = 0; j < 4; ++j) {
          const json &choice = answer["choices"][j];
          EXPECT_EQ(choice["index"], j);
          got[j] = choice["token_ids"].get<std::vector<int64_t>>();
          // Each choice names the prompt it continues.
          EXPECT_EQ(
              choice["prompt_token_ids"].size(),
              prompts[j / 2].is_string()
                  ? model->tokenizer->encode(prompts[j / 2].get<std::string>())
                        ->size()
                  : prompts[j / 2].size());
        }
        usage = answer["usage"];
      } else {
        body["stream_options"] = {{"include_usage", true}};
        auto res = c.Post("/v1/completions", body.dump(), "application/json");
        ASSERT_TRUE(res);
        for (const json &e : events(res->body)) {
          if (e["choices"].empty()) {
            usage = e["usage"];
            continue;
          }
          const json &choice = e["choices"][0];
          size_t j = choice["index"];
          ASSERT_LT(j, 4u);
          if (choice.contains("token_ids"))
            for (int64_t id : choice["token_ids"].get<std::vector<int64_t>>())
              got[j].push_back(id);
        }
      }
      // Choice j = prompt j / n, sampled with seed + j, as if asked alone.
      int64_t promptTokens = 0, completionTokens = 0;
      for (size_t j = 0; j < 4; ++j) {
        EXPECT_EQ(got[j], alone(prompts[j / 2], 40 + static_cast<int64_t>(j)))
            << "choice " << j;
        completionTokens += static_cast<int64_t>(got[j].size());
      }
      for (const json &p : prompts)
        promptTokens +=
            p.is_string()
                ? static_cast<int64_t>(
                      model->tokenizer->encode(p.get<std::string>())->size())
                : static_cast<int64_t>(p.size());
      EXPECT_EQ(usage["prompt_tokens"], promptTokens);
      EXPECT_EQ(usage["completion_tokens"], completionTokens);
    }

  // Bad batches name the prompt at fault.
  json e = post(c, "/v1/completions",
                {{"model", "demo"}, {"prompt", {"ok", 5}}}, 400);
  EXPECT_EQ(e["error"]["param"], "prompt[1]");
  e = post(c, "/v1/completions",
           {{"model", "demo"}, {"prompt", {{1, 2}, {3, -1}}}}, 400);
  EXPECT_EQ(e["error"]["param"], "prompt[1]");
  e = post(c, "/v1/completions",
           {{"model", "demo"}, {"prompt", {"ok", std::string(200, 'x')}}}, 400);
  EXPECT_EQ(e["error"]["param"], "prompt[1]");
  EXPECT_EQ(e["error"]["code"], "context_length_exceeded");
  e = post(c, "/v1/completions", {{"model", "demo"}, {"prompt", json::array()}},
           400);
  EXPECT_EQ(e["error"]["param"], "prompt");
}

TEST_F(ServeHttp, IgnoreEosRunsToMaxTokens) {
  httplib::Client c = client();
  // Find a prompt and seed whose completion ends with EOS early.
  const int64_t eos = *model->tokenizer->eosId();
  for (int64_t seed = 0; seed < 200; ++seed) {
    json body = {{"model", "demo"},  {"prompt", "<bos>Q: 2+2=?\nA: "},
                 {"max_tokens", 30}, {"temperature", 1.0},
                 {"seed", seed},     {"return_token_ids", true}};
    json answer = post(c, "/v1/completions", body);
    auto tokens = answer["choices"][0]["token_ids"].get<std::vector<int64_t>>();
    if (tokens.size() >= 30 || tokens.back() != eos)
      continue;
    body["ignore_eos"] = true;
    json longer = post(c, "/v1/completions", body);
    auto all = longer["choices"][0]["token_ids"].get<std::vector<int64_t>>();
    ASSERT_EQ(all.size(), 30u);
    EXPECT_EQ(longer["choices"][0]["finish_reason"], "length");
    // The same tokens up to the EOS, which is kept and passed.
    EXPECT_EQ(std::vector<int64_t>(all.begin(), all.begin() + tokens.size()),
              tokens);
    return;
  }
  GTEST_SKIP() << "no seed ended with EOS within 30 tokens";
}

TEST_F(ServeHttp, MetricsExposeLatencyHistogramsAndGauges) {
  httplib::Client c = client();
  post(c, "/v1/chat/completions", chatBody("6+6=?", 0, 0, 8));
  std::string text = c.Get("/metrics")->body;
  for (const char *family :
       {"kiln_time_to_first_token_seconds", "kiln_inter_token_latency_seconds",
        "kiln_decode_step_seconds", "kiln_batch_occupancy"}) {
    SCOPED_TRACE(family);
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " histogram"),
              std::string::npos);
    std::string count = std::string(family) + "_count ";
    size_t at = text.find(count);
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(std::atoll(text.c_str() + at + count.size()), 0);
    EXPECT_NE(text.find(std::string(family) + "_bucket{le=\"+Inf\"}"),
              std::string::npos);
  }
  for (const char *line :
       {"kiln_queue_waiting ", "kiln_queue_running ",
        "kiln_prompt_tokens_total ", "kiln_generation_tokens_total ",
        "kiln_requests_total{endpoint=\"/v1/chat/"
        "completions\",status=\"200\"}"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
}

/// Sends raw bytes on a fresh connection; the status of the answer, or -1.
int rawStatus(int port, const std::string &bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  (void)!::write(fd, bytes.data(), bytes.size());
  ::shutdown(fd, SHUT_WR);
  char buffer[64] = {};
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  if (n < 12 || std::string(buffer, 5) != "HTTP/")
    return -1;
  return std::atoi(buffer + 9);
}

TEST_F(ServeHttp, FuzzedRequestsAllGet4xxAndTheServerLives) {
  std::mt19937_64 rng(2026);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const json valid = chatBody("3+4=?", 0.5f, 1, 4);
  const std::string validText = valid.dump();
  // Values each field refuses (for chat and completions alike).
  const json object = json::object(), array = json::array();
  const std::vector<std::pair<std::string, std::vector<json>>> bad = {
      {"temperature", {-1, 3, 1e308, "x", array, object, true}},
      {"top_p", {0, -0.5, 1.5, "x", array}},
      {"max_tokens", {0, -1, 2.5, 1e308, "x", array, object}},
      {"n", {0, 17, 1.5, "x", array}},
      {"seed", {1.5, 1e300, "x", array, object, true}},
      {"stop",
       {1, object, json::array({1}), json::array({"a", "b", "c", "d", "e"})}},
      {"stream", {"yes", 1, array}},
      {"stream_options", {json{{"include_usage", true}}, 1, "x"}},
      {"model", {1, array, object, true, "no-such-model"}},
      {"top_k", {-2, 1.5, "x", array}},
      {"frequency_penalty", {1, -3, "x"}},
      {"logit_bias", {json{{"5", 1}}, "x"}},
      {"user", {1, array}},
      {"zz_unknown", {1, "x", nullptr}},
  };
  auto malformed = [&]() -> std::pair<std::string, std::string> {
    bool chat = rng() % 2;
    std::string path = chat ? "/v1/chat/completions" : "/v1/completions";
    switch (pick(8)) {
    case 0: // a strict prefix of a JSON object is never valid JSON
      return {path, validText.substr(0, pick(validText.size()))};
    case 1: { // random bytes that do not start an object
      std::string s = "x";
      for (size_t i = 0, n = pick(64); i < n; ++i)
        s += static_cast<char>(rng());
      return {path, s};
    }
    case 2: { // a field of the wrong type or out of range
      json j = valid;
      if (!chat) {
        j.erase("messages");
        j["prompt"] = "hi";
      }
      const auto &[field, values] = bad[pick(bad.size())];
      j[field] = values[pick(values.size())];
      return {path, j.dump()};
    }
    case 3: { // an unknown field
      json j = valid;
      j["zz_" + std::to_string(rng() % 1000)] = 1;
      return {path, j.dump()};
    }
    case 4: { // invalid UTF-8 inside a string
      std::string s = validText;
      size_t at = s.find("3+4");
      s.insert(at, std::string(1, static_cast<char>(0x80 + pick(64))));
      return {"/v1/chat/completions", s};
    }
    case 5: // deep nesting
      return {path, std::string(1000 + pick(5000), '[')};
    case 6: { // a prompt longer than the context
      json j = {{"model", "demo"},
                {"prompt", std::string(65 + pick(500), 'a')}};
      return {"/v1/completions", j.dump()};
    }
    default: { // unknown model, or nothing at all
      json j = valid;
      j["model"] = "no-such-model";
      return {path, rng() % 2 ? j.dump() : ""};
    }
    }
  };
  httplib::Client c = client();
  int64_t requests = 0;
  auto start = std::chrono::steady_clock::now();
  for (; requests < 10000; ++requests) {
    auto [path, body] = malformed();
    auto res = c.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(res) << "no answer to " << path << " " << body;
    ASSERT_GE(res->status, 400) << body << " -> " << res->body;
    ASSERT_LT(res->status, 500) << body << " -> " << res->body;
    json error = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(error.contains("error")) << res->body;
    ASSERT_TRUE(error["error"].contains("message"));
  }
  // Malformed HTTP itself, on raw sockets.
  const std::vector<std::string> raw = {
      "GARBAGE\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nContent-Length: "
      "abc\r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999"
      "\r\n\r\n{",
      std::string(20000, 'A') + "\r\n\r\n"};
  for (int round = 0; round < 25; ++round)
    for (const std::string &bytes : raw) {
      int status = rawStatus(served->http->port(), bytes);
      // httplib may close a garbled connection without an answer.
      if (status != -1) {
        EXPECT_GE(status, 400) << bytes.substr(0, 40);
        EXPECT_LT(status, 500) << bytes.substr(0, 40);
      }
    }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("%lld malformed requests in %.1f s\n",
              static_cast<long long>(requests), seconds);
  // Still serving, and serving the same answers.
  EXPECT_EQ(c.Get("/health")->status, 200);
  json answer = post(c, "/v1/chat/completions", chatBody("12+34=?", 0, 0, 20));
  EXPECT_EQ(answer["choices"][0]["token_ids"].get<std::vector<int64_t>>(),
            offlineTokens("12+34=?", 0, 0, 20));
}

} // namespace
} // namespace kiln::serving
