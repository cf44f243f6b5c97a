// Byte tokenizer round trips, and byte-level BPE checked id for id against
// Hugging Face `tokenizers` (fixtures from
// tests/fixtures/tokenizer/make_tokenizer.py).

#include <fstream>
#include <sstream>
#include <thread>

#include "models/tokenizer/BpeTokenizer.h"
#include "models/tokenizer/ByteTokenizer.h"
#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/tokenizer/";

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

const json &samples() {
  static const json *root =
      new json(json::parse(readFile(kFixtures + "samples.json")));
  return *root;
}

std::vector<int64_t> idsOf(const json &list) {
  return list.get<std::vector<int64_t>>();
}

//===----------------------------------------------------------------------===//
// ByteTokenizer
//===----------------------------------------------------------------------===//

TEST(ByteTokenizerTest, EveryByteStringRoundTrips) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b)
    all.push_back(static_cast<char>(b));
  // Invalid UTF-8 (a lone continuation byte, a truncated sequence) stays bytes.
  for (std::string text : {all, std::string("\x80\xff\xe2\x82", 4),
                           std::string("caf\xc3\xa9 \xf0\x9f\x99\x82"),
                           std::string(), std::string("\0a\0", 3)}) {
    std::vector<int64_t> ids = tok.encode(text);
    ASSERT_EQ(ids.size(), text.size());
    for (size_t i = 0; i < text.size(); ++i)
      EXPECT_EQ(ids[i], static_cast<unsigned char>(text[i]));
    auto decoded = tok.decode(ids);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, text);
  }
}

TEST(ByteTokenizerTest, SpecialTokensAreOneIdEach) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocabSize(), 263);
  const std::string text =
      "<bos>Q<think>a</think><answer>42</answer><eos><pad>";
  std::vector<int64_t> expected = {ByteTokenizer::kBos,
                                   'Q',
                                   ByteTokenizer::kThink,
                                   'a',
                                   ByteTokenizer::kThinkEnd,
                                   ByteTokenizer::kAnswer,
                                   '4',
                                   '2',
                                   ByteTokenizer::kAnswerEnd,
                                   ByteTokenizer::kEos,
                                   ByteTokenizer::kPad};
  EXPECT_EQ(tok.encode(text), expected);
  EXPECT_EQ(*tok.decode(expected), text);
  EXPECT_EQ(*tok.decode(expected, /*skipSpecialTokens=*/true), "Qa42");

  // Near misses stay bytes.
  EXPECT_EQ(tok.encode("<think").size(), 6u);
  EXPECT_EQ(tok.encode("< think>").size(), 8u);
  EXPECT_EQ(tok.encode("<<think>>"),
            (std::vector<int64_t>{'<', ByteTokenizer::kThink, '>'}));

  EXPECT_EQ(tok.tokenToId("<think>"), ByteTokenizer::kThink);
  EXPECT_EQ(tok.tokenToId("</answer>"), 262);
  EXPECT_EQ(tok.tokenToId("A"), 65);
  EXPECT_EQ(tok.tokenToId("<nope>"), std::nullopt);
  EXPECT_EQ(*tok.idToToken(260), "</think>");
  EXPECT_TRUE(ByteTokenizer::isSpecial(256));
  EXPECT_FALSE(ByteTokenizer::isSpecial(255));
}

TEST(ByteTokenizerTest, OutOfRangeIdsAreErrors) {
  ByteTokenizer tok;
  for (int64_t bad : {int64_t{263}, int64_t{-1}, int64_t{1} << 40}) {
    std::vector<int64_t> ids = {'a', bad};
    auto decoded = tok.decode(ids);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_NE(decoded.status().message().find(std::to_string(bad)),
              std::string::npos)
        << decoded.status();
    EXPECT_NE(decoded.status().message().find("position 1"), std::string::npos);
    EXPECT_FALSE(tok.idToToken(bad).ok());
  }
}

//===----------------------------------------------------------------------===//
// BpeTokenizer against Hugging Face tokenizers
//===----------------------------------------------------------------------===//

/// Checks one tokenizer against one recorded block of the fixture.
void checkAgainstFixture(const BpeTokenizer &tok, const json &expected,
                         const std::string &name) {
  const json &texts = samples()["samples"];
  EXPECT_EQ(tok.vocabSize(), expected["vocab_size"].get<int64_t>()) << name;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::string text = texts[i].get<std::string>();
    SCOPED_TRACE(name + " sample " + std::to_string(i) + ": " +
                 json(text).dump());
    auto ids = tok.encode(text);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, idsOf(expected["ids"][i]));

    auto withSpecial = tok.encode(text, /*addSpecialTokens=*/true);
    ASSERT_TRUE(withSpecial.ok()) << withSpecial.status();
    EXPECT_EQ(*withSpecial, idsOf(expected["ids_with_special"][i]));

    std::vector<int64_t> reference = idsOf(expected["ids"][i]);
    auto decoded = tok.decode(reference);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, expected["decoded"][i].get<std::string>());
    auto skipped = tok.decode(reference, /*skipSpecialTokens=*/true);
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    EXPECT_EQ(*skipped, expected["decoded_skip_special"][i].get<std::string>());

    // Where tokenizers itself gives the text back (no removed pieces, no
    // added prefix space, no stripped whitespace), Kiln must too.
    if (expected["decoded"][i].get<std::string>() == text)
      EXPECT_EQ(*tok.decode(*ids), text);
  }
}

BpeTokenizer load(const std::string &name) {
  auto tok = BpeTokenizer::fromJson(kFixtures + name + ".json");
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *std::move(tok);
}

TEST(BpeTokenizerTest, MatchesHuggingFaceOnEverySample) {
  for (const std::string name : {"bytelevel", "split_bytelevel"}) {
    BpeTokenizer tok = load(name);
    checkAgainstFixture(tok, samples()["tokenizers"][name], name);
  }
}

TEST(BpeTokenizerTest, MatchesHuggingFacePreTokenizerVariants) {
  const json &variants = samples()["variants"];
  ASSERT_GE(variants.size(), 10u);
  for (const json &variant : variants) {
    std::string base = variant["base"].get<std::string>();
    json root = json::parse(readFile(kFixtures + base + ".json"));
    root["pre_tokenizer"] = variant["pre_tokenizer"];
    std::string name = variant["name"].get<std::string>();
    auto tok = BpeTokenizer::fromJsonString(root.dump(), name);
    ASSERT_TRUE(tok.ok()) << tok.status();
    checkAgainstFixture(*tok, variant, name);
  }
}

TEST(BpeTokenizerTest, ReadsLegacyStringMerges) {
  json root = json::parse(readFile(kFixtures + "bytelevel.json"));
  json merges = json::array();
  for (const json &pair : root["model"]["merges"])
    merges.push_back(pair[0].get<std::string>() + " " +
                     pair[1].get<std::string>());
  root["model"]["merges"] = merges;
  auto tok = BpeTokenizer::fromJsonString(root.dump(), "legacy");
  ASSERT_TRUE(tok.ok()) << tok.status();
  checkAgainstFixture(*tok, samples()["tokenizers"]["bytelevel"], "legacy");
}

TEST(BpeTokenizerTest, LooksUpTokens) {
  BpeTokenizer tok = load("bytelevel");
  EXPECT_EQ(tok.tokenToId("<think>"), 3);
  EXPECT_EQ(tok.tokenToId("Kiln"), 500);
  EXPECT_EQ(tok.tokenToId("Ġ"), 227);
  EXPECT_EQ(tok.tokenToId("no such token"), std::nullopt);
  EXPECT_EQ(tok.idToToken(4), "</think>");
  EXPECT_TRUE(tok.isSpecial(501));
  EXPECT_FALSE(tok.isSpecial(500));
  EXPECT_FALSE(tok.idToToken(502).has_value());
}

TEST(BpeTokenizerTest, EncodesConcurrentlyAndAtLength) {
  BpeTokenizer tok = load("split_bytelevel");
  // Every sample that tokenizers gives back unchanged (so none with <sep>,
  // which swallows the spaces around it).
  const json &expected = samples()["tokenizers"]["split_bytelevel"];
  std::string text;
  for (size_t i = 0; i < samples()["samples"].size(); ++i)
    if (expected["decoded"][i] == samples()["samples"][i])
      text += samples()["samples"][i].get<std::string>();
  std::string big;
  for (int i = 0; i < 200; ++i)
    big += text;
  big += std::string(5000, ' ') + "end" + std::string(3000, '\n');
  auto reference = tok.encode(big);
  ASSERT_TRUE(reference.ok()) << reference.status();
  // Not EXPECT_EQ: a mismatch would print half a megabyte.
  EXPECT_TRUE(*tok.decode(*reference) == big);

  std::vector<std::thread> threads;
  std::vector<bool> same(4, false);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto ids = tok.encode(big);
      same[t] = ids.ok() && *ids == *reference;
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < 4; ++t)
    EXPECT_TRUE(same[t]) << "thread " << t;
}

TEST(BpeTokenizerTest, RefusesBadInputAndIds) {
  BpeTokenizer tok = load("bytelevel");
  auto ids = tok.encode(std::string("ok \xff bad", 8));
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("byte 3"), std::string::npos)
      << ids.status();

  std::vector<int64_t> bad = {3, 99999};
  auto text = tok.decode(bad);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("99999"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Errors in tokenizer.json files
//===----------------------------------------------------------------------===//

/// fromJsonString on bytelevel.json after `edit`; returns the error.
absl::Status loadEdited(const std::function<void(json &)> &edit) {
  json root = json::parse(readFile(kFixtures + "bytelevel.json"));
  edit(root);
  auto tok = BpeTokenizer::fromJsonString(root.dump(), "edited.json");
  return tok.status();
}

void expectError(const absl::Status &status, absl::StatusCode code,
                 const std::vector<std::string> &mentions) {
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string &word : mentions)
    EXPECT_NE(status.message().find(word), std::string::npos)
        << "'" << word << "' missing from: " << status;
}

TEST(BpeTokenizerErrorsTest, MissingFile) {
  auto tok = BpeTokenizer::fromJson("/nonexistent/tokenizer.json");
  expectError(tok.status(), absl::StatusCode::kNotFound,
              {"/nonexistent/tokenizer.json"});
}

TEST(BpeTokenizerErrorsTest, MalformedJson) {
  expectError(
      BpeTokenizer::fromJsonString("{\"model\": [1, 2", "broken.json").status(),
      absl::StatusCode::kInvalidArgument, {"broken.json", "malformed"});
  expectError(BpeTokenizer::fromJsonString("[]", "array.json").status(),
              absl::StatusCode::kInvalidArgument, {"array.json"});
  expectError(loadEdited([](json &r) { r.erase("model"); }),
              absl::StatusCode::kInvalidArgument, {"edited.json", "model"});
  expectError(loadEdited([](json &r) { r["model"]["vocab"] = 7; }),
              absl::StatusCode::kInvalidArgument, {"model.vocab"});
  expectError(loadEdited([](json &r) { r["model"]["merges"][5] = "Ġ"; }),
              absl::StatusCode::kInvalidArgument, {"model.merges[5]"});
  expectError(loadEdited([](json &r) {
                r["model"]["merges"][0] = json::array({"Ġ", "zzz"});
              }),
              absl::StatusCode::kInvalidArgument, {"merges[0]", "zzz"});
  expectError(loadEdited([](json &r) { r["added_tokens"][0].erase("id"); }),
              absl::StatusCode::kInvalidArgument, {"added_tokens[0]"});
}

// Inputs that crashed or exhausted memory: nesting that overflows recursive
// walks (the Sequence post-processor and decoder checks recurse), an id of
// 2^31 - 1 that sized every table by it, repeated keys, and huge values
// echoed into messages.
TEST(BpeTokenizerErrorsTest, HostileFilesAreBoundedErrors) {
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  expectError(BpeTokenizer::fromJsonString(deep, "deep.json").status(),
              absl::StatusCode::kInvalidArgument,
              {"deep.json", "nesting deeper than"});
  // Nested Sequence decoders, each level a valid object (spelled as text:
  // building the tree would copy it at every level).
  json root = json::parse(readFile(kFixtures + "bytelevel.json"));
  root["decoder"] = "DECODER";
  std::string text = root.dump(), nested;
  for (int i = 0; i < 100000; ++i)
    nested += R"({"type": "Sequence", "decoders": [)";
  nested += R"({"type": "ByteLevel"})";
  for (int i = 0; i < 100000; ++i)
    nested += "]}";
  text.replace(text.find("\"DECODER\""), 9, nested);
  expectError(BpeTokenizer::fromJsonString(text, "seq.json").status(),
              absl::StatusCode::kInvalidArgument, {"seq.json", "nesting"});
  expectError(
      loadEdited([](json &r) { r["model"]["vocab"]["huge"] = 2147483647; }),
      absl::StatusCode::kInvalidArgument, {"2147483647", "holes"});
  expectError(
      loadEdited([](json &r) { r["added_tokens"][0]["id"] = 2147483000; }),
      absl::StatusCode::kInvalidArgument, {"2147483000"});
  expectError(BpeTokenizer::fromJsonString(R"({"model": {}, "model": {}})",
                                           "twice.json")
                  .status(),
              absl::StatusCode::kInvalidArgument,
              {"twice.json", "\"model\" appears twice"});
  absl::Status longType = loadEdited(
      [](json &r) { r["model"]["type"] = std::string(1 << 20, 'W'); });
  ASSERT_FALSE(longType.ok());
  EXPECT_LT(longType.message().size(), 1000u);
}

TEST(BpeTokenizerErrorsTest, UnsupportedComponentsAreNamed) {
  expectError(loadEdited([](json &r) { r["model"]["type"] = "WordPiece"; }),
              absl::StatusCode::kUnimplemented, {"edited.json", "WordPiece"});
  expectError(loadEdited([](json &r) { r["model"]["type"] = "Unigram"; }),
              absl::StatusCode::kUnimplemented, {"Unigram"});
  expectError(loadEdited([](json &r) {
                r["normalizer"] = {{"type", "NFKC"}};
              }),
              absl::StatusCode::kUnimplemented, {"normalizer", "NFKC"});
  expectError(loadEdited([](json &r) {
                r["pre_tokenizer"] = {
                    {"type", "Sequence"},
                    {"pretokenizers", json::array({r["pre_tokenizer"],
                                                   {{"type", "Whitespace"}}})}};
              }),
              absl::StatusCode::kUnimplemented,
              {"pre_tokenizer.pretokenizers[1]", "Whitespace"});
  expectError(loadEdited([](json &r) {
                r["pre_tokenizer"] = {{"type", "Split"},
                                      {"pattern", {{"Regex", "\\s+"}}},
                                      {"behavior", "Isolated"}};
              }),
              absl::StatusCode::kUnimplemented, {"ByteLevel"});
  expectError(loadEdited([](json &r) {
                r["pre_tokenizer"] = {{"type", "Split"},
                                      {"pattern", {{"Regex", "(unclosed"}}},
                                      {"behavior", "Isolated"}};
              }),
              absl::StatusCode::kInvalidArgument, {"(unclosed"});
  expectError(loadEdited([](json &r) {
                r["decoder"] = {{"type", "WordPiece"}};
              }),
              absl::StatusCode::kUnimplemented, {"decoder", "WordPiece"});
  expectError(loadEdited([](json &r) {
                r["post_processor"] = {{"type", "BertProcessing"}};
              }),
              absl::StatusCode::kUnimplemented, {"BertProcessing"});
  expectError(loadEdited([](json &r) { r["model"]["byte_fallback"] = true; }),
              absl::StatusCode::kUnimplemented, {"byte_fallback"});
}

} // namespace
} // namespace kiln::tokenizer
