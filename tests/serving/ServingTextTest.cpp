//===- ServingTextTest.cpp - chat templates, text streams, request checks -===//
//
// The serving pieces that need no model: chat template renderings, the
// reasoning split, streamed text with stop strings, and the request parser's
// answers to bad input.
//
//===----------------------------------------------------------------------===//

#include <random>

#include "models/tokenizer/ChatTemplate.h"
#include "models/tokenizer/TextTokenizer.h"
#include "serving/Metrics.h"
#include "serving/OpenAiRequest.h"
#include "serving/TextStream.h"

#include "gtest/gtest.h"

namespace kiln::serving {
namespace {

using tokenizer::ChatMessage;
using tokenizer::ChatTemplate;

const std::string kUser = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";
const std::string kAssistant = "<\xEF\xBD\x9C"
                               "Assistant\xEF\xBD\x9C>";
const std::string kEos = "<\xEF\xBD\x9C"
                         "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";

TEST(ChatTemplate, DeepseekR1EndsWithThinking) {
  auto t = ChatTemplate::byName("deepseek-r1", "<BOS>");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->reasons());
  auto text = t->render({{"system", "Be brief."},
                         {"system", "Really."},
                         {"user", "1+1?"},
                         {"assistant", "<think>easy</think>2"},
                         {"user", "2+2?"}});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<BOS>Be brief.\n\nReally." + kUser + "1+1?" + kAssistant +
                       "2" + kEos + kUser + "2+2?" + kAssistant + "<think>\n");
}

TEST(ChatTemplate, DeepseekV3AndChatml) {
  auto v3 = ChatTemplate::byName("deepseek-v3", "<B>");
  ASSERT_TRUE(v3.ok());
  EXPECT_FALSE(v3->reasons());
  EXPECT_EQ(*v3->render({{"user", "hi"}}), "<B>" + kUser + "hi" + kAssistant);
  auto chatml = ChatTemplate::byName("chatml", "");
  ASSERT_TRUE(chatml.ok());
  EXPECT_EQ(*chatml->render({{"system", "s"}, {"user", "u"}}),
            "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n"
            "<|im_start|>assistant\n");
  auto bad = chatml->render({{"tool", "x"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tool"), std::string::npos);
}

TEST(ChatTemplate, KilnPromptTakesOneQuestion) {
  auto t = ChatTemplate::byName("kiln:Q: {question}\nA: ", "<bos>");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->render({{"user", "12+30=?"}}), "<bos>Q: 12+30=?\nA: ");
  EXPECT_FALSE(t->render({{"system", "x"}, {"user", "y"}}).ok());
  EXPECT_FALSE(ChatTemplate::byName("kiln:no slot", "").ok());
}

TEST(ChatTemplate, UnknownTemplatesAreNamed) {
  auto byName = ChatTemplate::byName("llama-3", "");
  ASSERT_FALSE(byName.ok());
  EXPECT_NE(byName.status().message().find("'llama-3'"), std::string::npos);
  auto jinja = ChatTemplate::fromJinja("{% for m in messages %}[INST]", "");
  ASSERT_FALSE(jinja.ok());
  EXPECT_NE(jinja.status().message().find("[INST]"), std::string::npos);
  auto r1 = ChatTemplate::fromJinja(
      "{{'<\xEF\xBD\x9CUser\xEF\xBD\x9C>' + m}}{{'<\xEF\xBD\x9C"
      "Assistant\xEF\xBD\x9C><think>\\n'}}",
      "");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->name(), "deepseek-r1");
}

TEST(ChatTemplate, ReasoningSplit) {
  auto s = tokenizer::splitReasoning("<think>a</think>b");
  EXPECT_EQ(s.reasoning, "a");
  EXPECT_EQ(s.content, "b");
  s = tokenizer::splitReasoning("still thinking");
  EXPECT_EQ(s.reasoning, "still thinking");
  EXPECT_EQ(s.content, "");
  s = tokenizer::splitReasoning("x</think></think>y");
  EXPECT_EQ(s.reasoning, "x");
  EXPECT_EQ(s.content, "</think>y");
}

std::vector<int64_t> bytes(const std::string &text) {
  return tokenizer::byteTextTokenizer()->encode(text).value();
}

/// Streams `text` one token at a time, taking after every token.
TextDelta streamAll(const tokenizer::TextTokenizer &tok,
                    const std::string &text, std::vector<std::string> stops,
                    bool reasons, std::string *full = nullptr) {
  TextStream stream(tok, std::move(stops), reasons);
  TextDelta all;
  std::vector<int64_t> ids = tok.encode(text).value();
  for (int64_t id : ids) {
    bool more = stream.add(id);
    TextDelta d = stream.take();
    all.reasoning += d.reasoning;
    all.content += d.content;
    if (!more)
      break;
  }
  stream.close();
  TextDelta d = stream.take();
  all.reasoning += d.reasoning;
  all.content += d.content;
  if (full)
    *full = stream.text();
  return all;
}

TEST(TextStream, DeltasConcatenateToTheSplit) {
  auto tok = tokenizer::byteTextTokenizer();
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {
      "<think>", "</think>", "<",  "/",        "think", ">",
      "a",       "\xC3\xA9", "\n", "<answer>", "7"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string text;
    for (int i = 0; i < 8; ++i)
      text += pieces[rng() % pieces.size()];
    std::string full;
    TextDelta d = streamAll(*tok, text, {}, true, &full);
    tokenizer::ReasoningSplit split = tokenizer::splitReasoning(full);
    EXPECT_EQ(d.reasoning, split.reasoning) << text;
    EXPECT_EQ(d.content, split.content) << text;
    TextDelta plain = streamAll(*tok, text, {}, false);
    EXPECT_EQ(plain.content, text);
  }
}

TEST(TextStream, StopStringsCutAndHoldBack) {
  auto tok = tokenizer::byteTextTokenizer();
  std::string full;
  TextDelta d = streamAll(*tok, "abcSTOPdef", {"STOP"}, false, &full);
  EXPECT_EQ(full, "abc");
  EXPECT_EQ(d.content, "abc");
  // A partial stop is held while it may complete, released when it cannot.
  TextStream stream(*tok, {"STOP"}, false);
  for (int64_t id : bytes("abST"))
    stream.add(id);
  EXPECT_EQ(stream.take().content, "ab");
  stream.add(bytes("x")[0]);
  EXPECT_EQ(stream.take().content, "STx");
  // The earliest of several stops wins, and later tokens are ignored.
  TextStream two(*tok, {"cd", "b"}, false);
  bool more = true;
  for (int64_t id : bytes("abcd"))
    more = two.add(id) && more;
  EXPECT_FALSE(more);
  EXPECT_EQ(two.text(), "a");
}

TEST(TextStream, HoldsIncompleteUtf8) {
  auto tok = tokenizer::byteTextTokenizer();
  TextStream stream(*tok, {}, false);
  stream.add(0xE2);
  stream.add(0x82);
  EXPECT_EQ(stream.take().content, "");
  stream.add(0xAC);
  EXPECT_EQ(stream.take().content, "\xE2\x82\xAC");
  EXPECT_EQ(incompleteUtf8Tail("a\xF0\x9F"), 2u);
  EXPECT_EQ(incompleteUtf8Tail("a\xF0\x9F\x98\x80"), 0u);
}

ApiError errorOf(const std::string &body, bool chat = true) {
  auto parsed = parseCompletionRequest(body, chat);
  if (auto *e = std::get_if<ApiError>(&parsed))
    return *e;
  return ApiError{0, "accepted"};
}

TEST(OpenAiRequest, AcceptsTheDocumentedFields) {
  auto parsed = parseCompletionRequest(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "max_completion_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":3,"seed":-4,
          "stop":["x","y"],"n":2,"stream":true,"stream_options":{"include_usage":true},
          "logprobs":true,"top_logprobs":2,"frequency_penalty":0,"user":"u","response_format":{"type":"text"}})",
      true);
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(parsed))
      << std::get<ApiError>(parsed).message;
  const CompletionRequest &r = std::get<CompletionRequest>(parsed);
  EXPECT_EQ(r.messages[0].content, "ab");
  EXPECT_EQ(r.maxTokens, 5);
  EXPECT_FLOAT_EQ(r.temperature, 0.5f);
  EXPECT_EQ(r.topK, 3);
  EXPECT_EQ(r.seed, -4);
  EXPECT_EQ(r.stop.size(), 2u);
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream && r.includeUsage && r.logprobs);
  EXPECT_EQ(r.topLogprobs, 2);

  auto completion = parseCompletionRequest(
      R"({"model":"m","prompt":[1,2,3],"logprobs":2,"max_tokens":null})",
      false);
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(completion));
  const auto &prompts = std::get<CompletionRequest>(completion).prompts;
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_EQ(*prompts[0].ids, (std::vector<int64_t>{1, 2, 3}));

  // OpenAI's batched forms: strings, or token-id arrays, one prompt each.
  auto batch = parseCompletionRequest(
      R"({"model":"m","prompt":["a","bc"],"n":3,"ignore_eos":true})", false);
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(batch))
      << std::get<ApiError>(batch).message;
  const CompletionRequest &b = std::get<CompletionRequest>(batch);
  ASSERT_EQ(b.prompts.size(), 2u);
  EXPECT_EQ(b.prompts[1].text, "bc");
  EXPECT_FALSE(b.prompts[1].ids);
  EXPECT_TRUE(b.ignoreEos);
  auto idBatch =
      parseCompletionRequest(R"({"model":"m","prompt":[[1],[2,3]]})", false);
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(idBatch));
  const auto &idPrompts = std::get<CompletionRequest>(idBatch).prompts;
  ASSERT_EQ(idPrompts.size(), 2u);
  EXPECT_EQ(*idPrompts[1].ids, (std::vector<int64_t>{2, 3}));
}

TEST(OpenAiRequest, RejectsBadInputNamingTheField) {
  struct Case {
    std::string body, param;
  };
  const std::string m =
      R"("model":"m","messages":[{"role":"user","content":"x"}])";
  std::vector<Case> cases = {
      {R"({"model":"m"})", "messages"},
      {"{" + m + R"(,"temperature":"hot"})", "temperature"},
      {"{" + m + R"(,"temperature":2.5})", "temperature"},
      {"{" + m + R"(,"top_p":0})", "top_p"},
      {"{" + m + R"(,"max_tokens":0})", "max_tokens"},
      {"{" + m + R"(,"max_tokens":1.5})", "max_tokens"},
      {"{" + m + R"(,"max_tokens":1e300})", "max_tokens"},
      {"{" + m + R"(,"seed":99999999999999999999})", "seed"},
      {"{" + m + R"(,"n":17})", "n"},
      {"{" + m + R"(,"stop":[1]})", "stop"},
      {"{" + m + R"(,"stop":["a","b","c","d","e"]})", "stop"},
      {"{" + m + R"(,"stream_options":{"include_usage":true}})",
       "stream_options"},
      {"{" + m + R"(,"top_logprobs":3})", "top_logprobs"},
      {"{" + m + R"(,"frequency_penalty":1})", "frequency_penalty"},
      {"{" + m + R"(,"response_format":{"type":"json_object","x":1}})",
       "response_format.x"},
      {"{" + m + R"(,"response_format":{"type":"json_schema","json_schema":)" +
           R"({"schema":{"type":"integer","minimum":1}}}})",
       "response_format.json_schema.schema"},
      {"{" + m + R"(,"bogus":1})", "bogus"},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})",
       "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
  };
  for (const Case &c : cases) {
    ApiError e = errorOf(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << ": " << e.message;
    EXPECT_EQ(e.type, "invalid_request_error");
  }
  EXPECT_EQ(errorOf(R"({"model":"m","prompt":["a",["b"]]})", false).param,
            "prompt[1]");
  EXPECT_EQ(errorOf(R"({"model":"m","prompt":[[1],[2,-3]]})", false).param,
            "prompt[1]");
  EXPECT_EQ(errorOf(R"({"model":"m","prompt":[]})", false).param, "prompt");
  EXPECT_EQ(errorOf(R"({"model":"m","prompt":{"a":1}})", false).param,
            "prompt");
  // 17 prompts with n = 16: more sequences than one request may ask for.
  std::string many = R"({"model":"m","n":16,"prompt":[)";
  for (int i = 0; i < 17; ++i)
    many += i ? R"(,"x")" : R"("x")";
  EXPECT_EQ(errorOf(many + "]}", false).param, "n");
  EXPECT_EQ(
      errorOf(R"({"model":"m","prompt":"a","ignore_eos":1})", false).param,
      "ignore_eos");
  EXPECT_EQ(errorOf(R"({"model":"m","prompt":"a","echo":true})", false).param,
            "echo");
  EXPECT_EQ(errorOf("{\"model\":\"m\",\"prompt\":\"\xFF\"}", false).code,
            "invalid_json");
  EXPECT_EQ(errorOf("not json").status, 400);
  EXPECT_EQ(errorOf("[1]").status, 400);
  EXPECT_EQ(errorOf(std::string(100000, '[')).status, 400);
  std::string body = ApiError{429, "full", "rate_limit_error", "", "x"}.body();
  EXPECT_EQ(body, R"({"error":{"code":"x","message":"full","param":null,)"
                  R"("type":"rate_limit_error"}})");
}

TEST(Metrics, PrometheusText) {
  Metrics metrics;
  metrics.countRequest("/v1/completions", 200);
  metrics.observeTtft(0.02);
  metrics.observeStep(3, 4, 0.001);
  std::string text = metrics.render();
  EXPECT_NE(text.find("kiln_requests_total{endpoint=\"/v1/completions\","
                      "status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(
      text.find("kiln_time_to_first_token_seconds_bucket{le=\"0.025\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("kiln_batch_occupancy_bucket{le=\"0.75\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE kiln_inter_token_latency_seconds histogram"),
            std::string::npos);
}

} // namespace
} // namespace kiln::serving
