//===- ConstraintTest.cpp - regex and JSON schema to token masks ----------===//
//
// The constrained-decoding pieces without a model: the regex compiler against
// strings it must accept and refuse, JSON schemas through random walks of
// their automata (every walk must parse and validate), the trie's token masks
// against a token-by-token walk, and the request fields' 400s.
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <set>

#include "nlohmann/json.hpp"
#include "serving/JsonSchemaRegex.h"
#include "serving/OpenAiRequest.h"
#include "serving/RegexDfa.h"
#include "serving/TokenMasks.h"

#include "gtest/gtest.h"

namespace kiln::serving {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

ByteDfa compiled(const std::string &pattern) {
  auto dfa = compileRegex(pattern);
  EXPECT_TRUE(dfa.ok()) << pattern << ": " << dfa.status();
  return dfa.ok() ? *std::move(dfa) : ByteDfa{};
}

TEST(RegexDfa, TheReasoningFormat) {
  ByteDfa dfa = compiled("<think>[^<]*</think><answer>-?[0-9]+</answer>");
  for (const char *good : {"<think></think><answer>0</answer>",
                           "<think>12+34 = 46, so\n</think><answer>46</answer>",
                           "<think>é ü ✓</think><answer>-7</answer>"})
    EXPECT_TRUE(dfa.matches(good)) << good;
  for (const char *bad :
       {"", "<think>a<b</think><answer>1</answer>",
        "<think></think><answer></answer>",
        "<think></think><answer>--1</answer>",
        "<think></think><answer>1</answer>x", "<answer>1</answer>",
        "<think>\xff</think><answer>1</answer>"})
    EXPECT_FALSE(dfa.matches(bad)) << bad;
  // Prefixes stay alive, wrong bytes die at once.
  EXPECT_NE(dfa.walk(dfa.start, "<think>partial"), ByteDfa::kDead);
  EXPECT_EQ(dfa.walk(dfa.start, "<thunk>"), ByteDfa::kDead);
}

TEST(RegexDfa, Subset) {
  struct Case {
    const char *pattern;
    std::vector<const char *> accept, reject;
  };
  std::vector<Case> cases = {
      {"a|bc|", {"a", "bc", ""}, {"b", "abc"}},
      {"(ab)+c?", {"ab", "ababc"}, {"", "abcc", "aba"}},
      {"(?:x|y){2,3}", {"xy", "yyy"}, {"x", "xxxx"}},
      {"a{3}", {"aaa"}, {"aa", "aaaa"}},
      {"a{2,}", {"aa", "aaaaaa"}, {"a"}},
      {"\\d\\w\\s", {"1_ ", "9a\t"}, {"a1 ", "11x"}},
      {"[^\\d]\\D", {"ab", "éx"}, {"1a", "a1"}},
      {"[a-c\\-x]+", {"abc-x", "-"}, {"d", "ab y"}},
      {"[]a]", {"]", "a"}, {"b"}},
      {".", {"a", "é", "✓", "\xf0\x9f\x98\x80"}, {"\n", "ab", "\xc3"}},
      {"\\x41\\u00e9", {"Aé"}, {"Ae"}},
      {"\\.\\*\\(\\)\\[\\]\\{\\}\\|\\\\", {".*()[]{}|\\"}, {"a"}},
      {"^ab$", {"ab"}, {"^ab$"}},
      {"a{,2}", {"a{,2}"}, {"aa"}}, // not a quantifier: literal, as in PCRE
      {"x*?y+?", {"y", "xxyy"}, {"x"}},
      {"[^a-zA-Z]", {"1", "Ω"}, {"q", "Q"}},
  };
  for (const Case &c : cases) {
    ByteDfa dfa = compiled(c.pattern);
    for (const char *s : c.accept)
      EXPECT_TRUE(dfa.matches(s)) << c.pattern << " should match '" << s << "'";
    for (const char *s : c.reject)
      EXPECT_FALSE(dfa.matches(s))
          << c.pattern << " should not match '" << s << "'";
  }
}

TEST(RegexDfa, RefusesByName) {
  std::vector<std::pair<const char *, const char *>> cases = {
      {"(a)\\1", "backreference"},
      {"a(?=b)", "'(?'"},
      {"\\bword", "boundary"},
      {"a^b", "'^'"},
      {"a$b", "'$'"},
      {"(ab", "unclosed '('"},
      {"ab)", "unmatched ')'"},
      {"[ab", "unclosed '['"},
      {"*a", "nothing to repeat"},
      {"a{3,2}", "n <= m"},
      {"a{5000}", "n <= m <= 1000"},
      {"[z-a]", "backwards"},
      {"\\q", "unknown escape"},
      {"a++", "possessive"},
      {"\\xZZ", "hex digits"},
      {"[^\\x00-\\x{10FFFF}]", "hex digits"},
      {"(.{1000}){1000}", "automaton states"},
  };
  for (auto [pattern, what] : cases) {
    auto dfa = compileRegex(pattern);
    ASSERT_FALSE(dfa.ok()) << pattern;
    EXPECT_TRUE(absl::IsInvalidArgument(dfa.status()));
    EXPECT_NE(dfa.status().message().find(what), std::string::npos)
        << pattern << ": " << dfa.status();
  }
}

/// A random text of `dfa`'s language: random live bytes, stopping at an
/// accepting state with probability 1/4 (or where nothing follows).
std::optional<std::string> randomText(const ByteDfa &dfa, std::mt19937 &rng,
                                      size_t limit = 4000) {
  std::string out;
  int32_t s = dfa.start;
  while (out.size() < limit) {
    if (dfa.accepting[s] &&
        (!dfa.continues[s] || std::uniform_int_distribution<>(0, 3)(rng) == 0))
      return out;
    std::vector<int> bytes;
    for (int b = 0; b < 256; ++b)
      if (dfa.step(s, b) != ByteDfa::kDead)
        bytes.push_back(b);
    // Prefer structure over long runs of string characters: bytes that are
    // JSON punctuation come up as often as all the others together.
    std::vector<int> punct;
    for (int b : bytes)
      if (std::string_view("{}[],:\"").find(static_cast<char>(b)) !=
          std::string_view::npos)
        punct.push_back(b);
    const std::vector<int> &from =
        !punct.empty() && std::uniform_int_distribution<>(0, 1)(rng) ? punct
                                                                     : bytes;
    int b =
        from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
    out += static_cast<char>(b);
    s = dfa.step(s, b);
  }
  return std::nullopt;
}

const char *kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "ok": {"type": "boolean"},
    "tags": {"type": "array", "items": {"enum": ["a", "b", 3]}, "maxItems": 3},
    "kind": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/point"}]},
    "note": {"type": ["string", "null"], "description": "optional"}
  },
  "required": ["name", "age", "kind"],
  "additionalProperties": false,
  "$defs": {
    "point": {"type": "object",
              "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
              "required": ["x", "y"]}
  }
})";

/// What kSchema asks, checked by hand.
void expectValid(const json &v, const std::string &text) {
  ASSERT_TRUE(v.is_object()) << text;
  std::set<std::string> allowed = {"name", "age",  "score", "ok",
                                   "tags", "kind", "note"};
  for (auto it = v.begin(); it != v.end(); ++it)
    EXPECT_TRUE(allowed.count(it.key())) << text;
  ASSERT_TRUE(v.contains("name") && v.contains("age") && v.contains("kind"))
      << text;
  EXPECT_TRUE(v["name"].is_string()) << text;
  EXPECT_LE(v["name"].get<std::string>().size(), 12u * 4) << text;
  EXPECT_TRUE(v["age"].is_number_integer()) << text;
  if (v.contains("score"))
    EXPECT_TRUE(v["score"].is_number()) << text;
  if (v.contains("ok"))
    EXPECT_TRUE(v["ok"].is_boolean()) << text;
  if (v.contains("tags")) {
    ASSERT_TRUE(v["tags"].is_array()) << text;
    EXPECT_LE(v["tags"].size(), 3u) << text;
    for (const json &t : v["tags"])
      EXPECT_TRUE(t == "a" || t == "b" || t == 3) << text;
  }
  const json &kind = v["kind"];
  EXPECT_TRUE(kind.is_null() ||
              (kind.is_object() && kind.size() == 2 &&
               kind["x"].is_number_integer() && kind["y"].is_number_integer()))
      << text;
  if (v.contains("note"))
    EXPECT_TRUE(v["note"].is_string() || v["note"].is_null()) << text;
}

TEST(JsonSchemaRegex, RandomTextsParseAndValidate) {
  auto regex = jsonSchemaRegex(ojson::parse(kSchema));
  ASSERT_TRUE(regex.ok()) << regex.status();
  ByteDfa dfa = compiled(*regex);
  EXPECT_TRUE(dfa.matches(R"({"name":"Ann","age":3,"kind":null})"));
  EXPECT_TRUE(
      dfa.matches(R"({"name": "Bo", "age": -41, "ok": true, "tags": ["a", 3], )"
                  R"("kind": {"x": 1, "y": 2}, "note": null})"));
  // Order is the schema's; required members cannot be left out.
  EXPECT_FALSE(dfa.matches(R"({"age":3,"name":"Ann","kind":null})"));
  EXPECT_FALSE(dfa.matches(R"({"name":"Ann","kind":null})"));
  EXPECT_FALSE(dfa.matches(R"({"name":"Ann","age":3.5,"kind":null})"));
  EXPECT_FALSE(dfa.matches(R"({"name":"Ann","age":3,"kind":null,})"));
  std::mt19937 rng(7);
  int checked = 0;
  for (int i = 0; i < 300; ++i) {
    auto text = randomText(dfa, rng);
    if (!text)
      continue;
    json v = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(v.is_discarded()) << *text;
    expectValid(v, *text);
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST(JsonSchemaRegex, JsonObjectTextsParse) {
  ByteDfa dfa = compiled(jsonObjectRegex());
  EXPECT_TRUE(dfa.matches(R"({"a":[1,{"b":null}],"c":"d\n"})"));
  EXPECT_FALSE(dfa.matches(R"([1])"));
  EXPECT_FALSE(dfa.matches(R"({"a":1)"));
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i)
    if (auto text = randomText(dfa, rng)) {
      json v = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      ASSERT_FALSE(v.is_discarded()) << *text;
      EXPECT_TRUE(v.is_object()) << *text;
    }
}

TEST(JsonSchemaRegex, RefusesKeywordsByName) {
  std::vector<std::pair<const char *, const char *>> cases = {
      {R"({"type":"integer","minimum":0})", "'minimum' at #"},
      {R"({"type":"object","properties":{"a":{"type":"string",)"
       R"("pattern":"x"}}})",
       "'pattern' at #/properties/a"},
      {R"({"oneOf":[{"type":"string"}]})", "'oneOf'"},
      {R"({"type":"object","additionalProperties":{"type":"string"}})",
       "'additionalProperties'"},
      {R"({"type":"array","uniqueItems":true})", "'uniqueItems'"},
      {R"({"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}})",
       "recursive"},
      {R"({"$ref":"http://x/y"})", "'$ref'"},
      {R"({"type":"object","properties":{"a":{}},"required":["b"]})",
       "\"b\", which 'properties' does not define"},
      {R"({"type":"strng"})", "'strng'"},
      {R"({"type":"string","enum":[1,2]})", "'enum'/'const'"},
  };
  for (auto [schema, what] : cases) {
    auto regex = jsonSchemaRegex(ojson::parse(schema));
    ASSERT_FALSE(regex.ok()) << schema;
    EXPECT_NE(regex.status().message().find(what), std::string::npos)
        << schema << ": " << regex.status();
  }
}

/// A small vocabulary with shared prefixes, multi-byte UTF-8 pieces, a
/// control token (empty spelling) and an EOS.
std::vector<std::string> smallVocabulary(std::mt19937 &rng) {
  std::vector<std::string> vocab;
  for (int b = 0; b < 256; ++b)
    vocab.push_back(std::string(1, static_cast<char>(b)));
  const std::vector<std::string> pieces = {
      "<", "/",    "think", ">",    "answer", "a", "b", "1",      "-",
      "0", "9",    "\"",    "{",    "}",      ":", ",", " ",      "\n",
      "é", "\xc3", "\xa9",  "true", "null",   "[", "]", "<think>"};
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> len(1, 4);
  for (int i = 0; i < 400; ++i) {
    std::string t;
    for (int k = len(rng); k > 0; --k)
      t += pieces[pick(rng)];
    vocab.push_back(t);
  }
  vocab.push_back(""); // a control token
  vocab.push_back(""); // the EOS
  return vocab;
}

TEST(TokenMasks, MatchBruteForce) {
  std::mt19937 rng(5);
  std::vector<std::string> vocab = smallVocabulary(rng);
  int64_t eos = static_cast<int64_t>(vocab.size()) - 1;
  auto trie = std::make_shared<const TokenTrie>(vocab, eos);
  auto schema = jsonSchemaRegex(ojson::parse(
      R"({"type":"object","properties":{"a":{"type":"string"},)"
      R"("b":{"type":"array","items":{"type":"boolean"}}},"required":["a"]})"));
  ASSERT_TRUE(schema.ok());
  for (const std::string &pattern :
       {std::string("<think>[^<]*</think><answer>-?[0-9]+</answer>"), *schema,
        std::string("(é|ab)*1")}) {
    ByteDfa dfa = compiled(pattern);
    TokenConstraint constraint(dfa, trie);
    std::vector<float> row(vocab.size());
    for (int32_t s = 0; s < dfa.numStates(); ++s) {
      constraint.writeMask(s, row.data());
      for (size_t id = 0; id < vocab.size(); ++id) {
        bool expected;
        if (static_cast<int64_t>(id) == eos)
          expected = dfa.accepting[s];
        else
          expected =
              !vocab[id].empty() && dfa.walk(s, vocab[id]) != ByteDfa::kDead;
        ASSERT_EQ(row[id] == 0.0f, expected)
            << pattern << " state " << s << " token " << id << " '" << vocab[id]
            << "'";
        if (!expected)
          ASSERT_TRUE(std::isinf(row[id]) && row[id] < 0);
        // advance agrees with the mask.
        ASSERT_EQ(constraint.advance(s, id) != ByteDfa::kDead, expected);
      }
    }
  }
}

TEST(TokenMasks, CostPerDecodeStepAtBatch64) {
  // What the engine does per decode step for 64 constrained rows: advance
  // each past its sampled token and write its mask row. Printed for
  // docs/SERVING_CONSTRAINTS.md; the decode step itself is timed by
  // KilnServeHttpTest's ConstrainedMaskCost.
  std::mt19937 rng(3);
  for (int64_t vocabSize : {263, 32768, 129280}) {
    std::vector<std::string> vocab;
    for (int b = 0; b < 256 && static_cast<int64_t>(vocab.size()) < vocabSize;
         ++b)
      vocab.push_back(std::string(1, static_cast<char>(b)));
    std::uniform_int_distribution<int> byte(32, 126), len(2, 8);
    while (static_cast<int64_t>(vocab.size()) < vocabSize) {
      std::string t;
      for (int k = len(rng); k > 0; --k)
        t += static_cast<char>(byte(rng));
      vocab.push_back(t);
    }
    auto trie = std::make_shared<const TokenTrie>(vocab, std::nullopt);
    auto schema = jsonSchemaRegex(ojson::parse(kSchema));
    ASSERT_TRUE(schema.ok());
    for (const std::string &pattern :
         {std::string("<think>[^<]*</think><answer>-?[0-9]+</answer>"),
          *schema}) {
      TokenConstraint constraint(compiled(pattern), trie);
      auto t0 = std::chrono::steady_clock::now();
      constraint.precompute(int64_t{1} << 26);
      double precompute =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      constexpr int64_t kRows = 64, kSteps = 50;
      std::vector<int32_t> state(kRows, constraint.start());
      std::vector<float> mask(kRows * vocabSize);
      // Warm every row's state first, as a long-running server would be.
      auto t1 = std::chrono::steady_clock::now();
      for (int64_t step = 0; step < kSteps; ++step)
        for (int64_t r = 0; r < kRows; ++r) {
          float *row = mask.data() + r * vocabSize;
          constraint.writeMask(state[r], row);
          // The sampler's stand-in: the first allowed token after a
          // row-dependent offset.
          for (int64_t k = 0; k < vocabSize; ++k) {
            int64_t id = (k + r * 7919 + step * 104729) % vocabSize;
            if (row[id] == 0.0f) {
              int32_t next = constraint.advance(state[r], id);
              state[r] = constraint.complete(next) ? constraint.start() : next;
              break;
            }
          }
        }
      double total =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t1)
              .count();
      // The sampler's stand-in scan is not part of the engine's cost: time
      // the masks alone over the states reached.
      auto t2 = std::chrono::steady_clock::now();
      for (int64_t step = 0; step < kSteps; ++step)
        for (int64_t r = 0; r < kRows; ++r)
          constraint.writeMask(state[r], mask.data() + r * vocabSize);
      double masks =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t2)
              .count();
      std::printf("mask cost: vocab %lld, %s, %d states: precompute %.1f ms; "
                  "64 mask rows %.3f ms per step (with the stand-in "
                  "sampler's walk %.3f ms)\n",
                  static_cast<long long>(vocabSize),
                  pattern.size() < 60 ? "reasoning regex" : "json schema",
                  constraint.numStates(), precompute * 1e3,
                  masks / kSteps * 1e3, total / kSteps * 1e3);
    }
  }
}

TEST(ConstraintFields, ParseAndRefuse) {
  auto parse = [](const std::string &extra, bool chat = true) {
    std::string body =
        chat ? R"({"model":"m","messages":[{"role":"user","content":"hi"}])"
             : R"({"model":"m","prompt":"hi")";
    return parseCompletionRequest(body + extra + "}", chat);
  };
  using Constraint = CompletionRequest::Constraint;
  {
    auto r = parse(R"(,"kiln_regex":"[0-9]+")", false);
    ASSERT_TRUE(std::holds_alternative<CompletionRequest>(r));
    const auto &req = std::get<CompletionRequest>(r);
    EXPECT_EQ(req.constraint, Constraint::regex);
    EXPECT_EQ(req.constraintRegex, "[0-9]+");
  }
  {
    auto r = parse(R"(,"response_format":{"type":"json_object"})");
    ASSERT_TRUE(std::holds_alternative<CompletionRequest>(r));
    EXPECT_EQ(std::get<CompletionRequest>(r).constraint, Constraint::json);
  }
  {
    auto r = parse(R"(,"response_format":{"type":"json_schema","json_schema":)"
                   R"({"name":"x","strict":true,"schema":{"type":"object",)"
                   R"("properties":{"b":{"type":"integer"},"a":)"
                   R"({"type":"boolean"}},"required":["b","a"]}}})");
    ASSERT_TRUE(std::holds_alternative<CompletionRequest>(r));
    // The client's property order survives (b before a).
    ByteDfa dfa = compiled(std::get<CompletionRequest>(r).constraintRegex);
    EXPECT_TRUE(dfa.matches(R"({"b":1,"a":true})"));
    EXPECT_FALSE(dfa.matches(R"({"a":true,"b":1})"));
  }
  struct Bad {
    std::string extra;
    const char *param, *what;
  };
  for (const Bad &bad : std::vector<Bad>{
           {R"(,"response_format":{"type":"json_schema","json_schema":)"
            R"({"name":"x","schema":{"type":"integer","maximum":3}}})",
            "response_format.json_schema.schema", "'maximum'"},
           {R"(,"response_format":{"type":"json_schema"})",
            "response_format.json_schema", "must be an object"},
           {R"(,"response_format":{"type":"json_schema","json_schema":)"
            R"({"name":"x"}})",
            "response_format.json_schema.schema", "required"},
           {R"(,"response_format":{"type":"yaml"})", "response_format.type",
            "'yaml'"},
           {R"(,"kiln_regex":5)", "kiln_regex", "must be a string"},
           {R"(,"kiln_regex":"a","response_format":{"type":"json_object"})",
            "kiln_regex", "cannot be combined"},
       }) {
    auto r = parse(bad.extra);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad.extra;
    const ApiError &e = std::get<ApiError>(r);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, bad.param) << e.message;
    EXPECT_NE(e.message.find(bad.what), std::string::npos) << e.message;
  }
}

} // namespace
} // namespace kiln::serving
