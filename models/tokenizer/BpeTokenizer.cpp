//===- BpeTokenizer.cpp - byte-level BPE from a tokenizer.json ------------===//

#include "models/tokenizer/BpeTokenizer.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "executor/UntrustedJson.h"
#include "models/tokenizer/AddedTokens.h"
#include "models/tokenizer/ByteLevel.h"
#include "models/tokenizer/PreTokenizer.h"
#include "models/tokenizer/Utf8.h"
#include "nlohmann/json.hpp"

namespace kiln::tokenizer {

using json = nlohmann::json;

namespace {

/// Words seen again (" the", "\n") are most of a corpus, so BPE results are
/// kept; the bound only stops adversarial text from growing it forever.
constexpr size_t kCacheCapacity = 1 << 16;

enum class IdKind : uint8_t { none, model, added, special };

absl::Status unsupported(const std::string &what) {
  return absl::UnimplementedError(
      absl::StrCat(what, " is not supported by Kiln's tokenizer"));
}

absl::Status invalid(const std::string &what) {
  return absl::InvalidArgumentError(what);
}

std::string typeOf(const json &spec) {
  if (spec.is_object() && spec.contains("type") && spec["type"].is_string())
    return quoteBounded(spec["type"].get<std::string>(), 60);
  return jsonSnippet(spec);
}

/// Debian's Abseil has its own string_view; heterogeneous lookup needs it.
absl::string_view key(std::string_view s) { return {s.data(), s.size()}; }

uint64_t pairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

} // namespace

struct BpeTokenizer::Impl {
  struct Merge {
    int32_t rank;
    int32_t newId;
  };

  absl::flat_hash_map<std::string, int32_t> vocab;
  absl::flat_hash_map<uint64_t, Merge> merges;
  bool ignoreMerges = false;
  std::optional<int32_t> unkId;
  bool fuseUnk = false;

  PreTokenizer preTokenizer;
  AddedTokenMatcher addedTokens;
  absl::flat_hash_map<std::string, int32_t> addedByContent;

  /// Indexed by id: the token's spelling, the bytes it decodes to, and what
  /// kind of token it is (none for holes in the id space).
  std::vector<std::string> spelling;
  std::vector<std::string> decoded;
  std::vector<IdKind> kinds;

  /// What encode(addSpecialTokens=true) puts around the text's ids.
  std::vector<int32_t> templatePrefix;
  std::vector<int32_t> templateSuffix;

  mutable absl::Mutex cacheMutex;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>>
      cache ABSL_GUARDED_BY(cacheMutex);

  absl::Status parse(const json &root);
  absl::Status parseModel(const json &model);
  absl::Status parseAddedTokens(const json &list);
  absl::Status parsePostProcessor(const json &spec, const std::string &where);
  absl::Status checkNormalizer(const json &spec);
  absl::Status checkDecoder(const json &spec, const std::string &where);
  void setId(int32_t id, std::string token, IdKind kind);

  void bpe(const std::string &word, std::vector<int32_t> &out) const;
};

void BpeTokenizer::Impl::setId(int32_t id, std::string token, IdKind kind) {
  if (static_cast<size_t>(id) >= kinds.size()) {
    spelling.resize(id + 1);
    decoded.resize(id + 1);
    kinds.resize(id + 1, IdKind::none);
  }
  if (kind == IdKind::model) {
    // The ByteLevel decoder keeps a token's own UTF-8 when it holds a
    // character outside the byte alphabet.
    decoded[id] = decodeByteLevel(token).value_or(token);
  } else {
    decoded[id] = token;
  }
  spelling[id] = std::move(token);
  kinds[id] = kind;
}

absl::Status BpeTokenizer::Impl::parseModel(const json &model) {
  if (!model.is_object())
    return invalid("field 'model' must be an object");
  std::string type = model.value("type", std::string());
  if (type.empty() && !model.contains("merges"))
    return invalid("field 'model' has no \"type\" (and no \"merges\" to make "
                   "it a BPE model)");
  if (!type.empty() && type != "BPE")
    return unsupported(absl::StrCat("model type '", quoteBounded(type, 60),
                                    "' (Kiln reads byte-level BPE only)"));
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() > 0.0)
    return unsupported("model.dropout > 0 (random merges)");
  if (model.value("byte_fallback", false))
    return unsupported("model.byte_fallback (a sentencepiece-style BPE)");
  for (const char *field : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(field) && model[field].is_string() &&
        !model[field].get<std::string>().empty())
      return unsupported(absl::StrCat("model.", field));
  ignoreMerges = model.value("ignore_merges", false);
  fuseUnk = model.value("fuse_unk", false);

  if (!model.contains("vocab") || !model["vocab"].is_object())
    return invalid("field 'model.vocab' must be an object of token: id");
  for (const auto &[token, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > std::numeric_limits<int32_t>::max())
      return invalid(absl::StrCat("model.vocab['", quoteBounded(token, 60),
                                  "'] has id ", jsonSnippet(id),
                                  ", not a non-negative int32"));
    vocab[token] = id.get<int32_t>();
    setId(id.get<int32_t>(), token, IdKind::model);
  }

  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    std::string unk = model["unk_token"].get<std::string>();
    auto it = vocab.find(unk);
    if (it == vocab.end())
      return invalid(absl::StrCat("model.unk_token '", quoteBounded(unk, 60),
                                  "' is not in the vocabulary"));
    unkId = it->second;
  }

  if (!model.contains("merges") || !model["merges"].is_array())
    return invalid("field 'model.merges' must be an array");
  const json &list = model["merges"];
  for (size_t rank = 0; rank < list.size(); ++rank) {
    const json &entry = list[rank];
    std::string left, right;
    if (entry.is_string()) {
      // The older "a b" form; byte-level tokens spell space as "Ġ", so exactly
      // one space separates the two halves.
      std::string s = entry.get<std::string>();
      size_t space = s.find(' ');
      if (space == std::string::npos ||
          s.find(' ', space + 1) != std::string::npos)
        return invalid(absl::StrCat("model.merges[", rank, "] is ",
                                    jsonSnippet(entry),
                                    ", not two tokens separated by one space"));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return invalid(absl::StrCat("model.merges[", rank, "] is ",
                                  jsonSnippet(entry),
                                  ", neither \"a b\" nor [\"a\", \"b\"]"));
    }
    auto find = [&](const std::string &token) -> absl::StatusOr<int32_t> {
      auto it = vocab.find(token);
      if (it == vocab.end())
        return invalid(absl::StrCat(
            "model.merges[", rank, "] ", jsonSnippet(entry), " uses '",
            quoteBounded(token, 60), "', which is not in the vocabulary"));
      return it->second;
    };
    auto a = find(left), b = find(right), merged = find(left + right);
    for (auto *r : {&a, &b, &merged})
      if (!r->ok())
        return r->status();
    // A repeated pair takes its last rank, as Hugging Face's map build does.
    merges[pairKey(*a, *b)] = {static_cast<int32_t>(rank), *merged};
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::Impl::parseAddedTokens(const json &list) {
  std::vector<AddedToken> tokens;
  if (list.is_null())
    return absl::OkStatus();
  if (!list.is_array())
    return invalid("field 'added_tokens' must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json &entry = list[i];
    if (!entry.is_object() || !entry.contains("id") ||
        !entry["id"].is_number_integer() || !entry.contains("content") ||
        !entry["content"].is_string())
      return invalid(absl::StrCat("added_tokens[", i,
                                  "] needs an integer \"id\" and a string "
                                  "\"content\", got ",
                                  jsonSnippet(entry)));
    AddedToken token;
    int64_t id = entry["id"].get<int64_t>();
    if (id < 0 || id > std::numeric_limits<int32_t>::max())
      return invalid(absl::StrCat("added_tokens[", i, "] has id ", id));
    token.id = static_cast<int32_t>(id);
    token.content = entry["content"].get<std::string>();
    if (findInvalidUtf8(token.content) != std::string_view::npos)
      return invalid(absl::StrCat("added_tokens[", i, "] is not UTF-8"));
    token.singleWord = entry.value("single_word", false);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    token.special = entry.value("special", false);
    token.normalized = entry.value("normalized", !token.special);
    addedByContent[token.content] = token.id;
    setId(token.id, token.content,
          token.special ? IdKind::special : IdKind::added);
    tokens.push_back(std::move(token));
  }
  addedTokens = AddedTokenMatcher(std::move(tokens));
  return absl::OkStatus();
}

absl::Status BpeTokenizer::Impl::parsePostProcessor(const json &spec,
                                                    const std::string &where) {
  if (spec.is_null())
    return absl::OkStatus();
  std::string type = typeOf(spec);
  if (type == "ByteLevel")
    return absl::OkStatus(); // it only adjusts offsets
  if (type == "Sequence") {
    const json &list = spec.value("processors", json::array());
    for (size_t i = 0; i < list.size(); ++i) {
      absl::Status s = parsePostProcessor(
          list[i], absl::StrCat(where, ".processors[", i, "]"));
      if (!s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  if (type != "TemplateProcessing")
    return unsupported(absl::StrCat(where, " type '", type, "'"));

  // Ids of each special token the template names, from its own table.
  absl::flat_hash_map<std::string, std::vector<int32_t>> specials;
  if (spec.contains("special_tokens") && spec["special_tokens"].is_object())
    for (const auto &[name, entry] : spec["special_tokens"].items())
      specials[name] = entry.value("ids", std::vector<int32_t>());
  if (!spec.contains("single") || !spec["single"].is_array())
    return invalid(absl::StrCat(where, ".single must be an array"));
  std::vector<int32_t> before, after;
  bool seenSequence = false;
  for (const json &item : spec["single"]) {
    if (item.contains("Sequence")) {
      seenSequence = true;
      continue;
    }
    if (!item.contains("SpecialToken"))
      return invalid(
          absl::StrCat(where, ".single has an item ", jsonSnippet(item),
                       " that is neither SpecialToken nor Sequence"));
    std::string name = item["SpecialToken"].value("id", std::string());
    auto it = specials.find(name);
    if (it == specials.end())
      return invalid(absl::StrCat(where, ".single names special token '",
                                  quoteBounded(name, 60),
                                  "', which its special_tokens lack"));
    auto &side = seenSequence ? after : before;
    side.insert(side.end(), it->second.begin(), it->second.end());
  }
  // Later processors wrap the output of earlier ones.
  templatePrefix.insert(templatePrefix.begin(), before.begin(), before.end());
  templateSuffix.insert(templateSuffix.end(), after.begin(), after.end());
  return absl::OkStatus();
}

absl::Status BpeTokenizer::Impl::checkNormalizer(const json &spec) {
  if (spec.is_null())
    return absl::OkStatus();
  if (typeOf(spec) == "Sequence" && spec.contains("normalizers") &&
      spec["normalizers"].is_array() && spec["normalizers"].empty())
    return absl::OkStatus();
  return unsupported(absl::StrCat("normalizer type '", typeOf(spec),
                                  "' (only null or an empty Sequence)"));
}

absl::Status BpeTokenizer::Impl::checkDecoder(const json &spec,
                                              const std::string &where) {
  std::string type = spec.is_null() ? "null" : typeOf(spec);
  if (type == "ByteLevel")
    return absl::OkStatus();
  if (type == "Sequence" && spec.contains("decoders") &&
      spec["decoders"].is_array()) {
    for (size_t i = 0; i < spec["decoders"].size(); ++i) {
      absl::Status s = checkDecoder(spec["decoders"][i],
                                    absl::StrCat(where, ".decoders[", i, "]"));
      if (!s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  return unsupported(absl::StrCat(where, " type '", type,
                                  "' (byte-level BPE decodes with ByteLevel)"));
}

/// The id space the tables are sized by is the largest id plus one: a single
/// id of 2^31 would ask for 2^31 entries of each table. Holes are legal, but
/// the space may not exceed the ids listed by more than this many.
constexpr int64_t kMaxIdHoles = 1 << 20;

absl::Status checkIdSpace(const json &root) {
  int64_t listed = 0, maxId = -1;
  auto visit = [&](const json &id) {
    if (id.is_number_integer() && id.get<int64_t>() >= 0) {
      ++listed;
      maxId = std::max(maxId, id.get<int64_t>());
    }
  };
  const json *model = root.contains("model") ? &root["model"] : nullptr;
  if (model && model->is_object() && model->contains("vocab") &&
      (*model)["vocab"].is_object())
    for (const auto &entry : (*model)["vocab"].items())
      visit(entry.value());
  if (root.contains("added_tokens") && root["added_tokens"].is_array())
    for (const json &entry : root["added_tokens"])
      if (entry.is_object() && entry.contains("id"))
        visit(entry["id"]);
  if (maxId >= listed + kMaxIdHoles)
    return invalid(absl::StrCat(
        "token id ", maxId, " leaves ", maxId + 1 - listed,
        " unused ids below it (", listed,
        " tokens listed); Kiln refuses id spaces with more than ", kMaxIdHoles,
        " holes, which would size its tables by the largest id"));
  return absl::OkStatus();
}

absl::Status BpeTokenizer::Impl::parse(const json &root) {
  if (!root.is_object())
    return invalid("the top level is not a JSON object");
  if (!root.contains("model"))
    return invalid("field 'model' is missing");
  if (absl::Status s = checkIdSpace(root); !s.ok())
    return s;
  if (absl::Status s = parseModel(root["model"]); !s.ok())
    return s;
  if (absl::Status s = checkNormalizer(root.value("normalizer", json()));
      !s.ok())
    return s;
  auto pre = PreTokenizer::fromJson(root.value("pre_tokenizer", json()),
                                    "pre_tokenizer");
  if (!pre.ok())
    return pre.status();
  if (!pre->hasByteLevel())
    return unsupported("a pre_tokenizer without a ByteLevel step (only "
                       "byte-level BPE)");
  preTokenizer = *std::move(pre);
  if (absl::Status s = parseAddedTokens(root.value("added_tokens", json()));
      !s.ok())
    return s;
  if (absl::Status s = parsePostProcessor(root.value("post_processor", json()),
                                          "post_processor");
      !s.ok())
    return s;
  return checkDecoder(root.value("decoder", json()), "decoder");
}

void BpeTokenizer::Impl::bpe(const std::string &word,
                             std::vector<int32_t> &out) const {
  if (ignoreMerges) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  {
    absl::MutexLock lock(&cacheMutex);
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }

  std::vector<int32_t> symbols;
  bool lastWasUnk = false;
  for (size_t pos = 0; pos < word.size();) {
    size_t len = utf8SequenceLength(static_cast<unsigned char>(word[pos]));
    auto it = vocab.find(key(std::string_view(word).substr(pos, len)));
    pos += len;
    if (it != vocab.end()) {
      symbols.push_back(it->second);
      lastWasUnk = false;
    } else if (unkId && !(fuseUnk && lastWasUnk)) {
      symbols.push_back(*unkId);
      lastWasUnk = true;
    }
    // Without an unk token Hugging Face drops the character; a complete byte
    // alphabet never gets here.
  }

  // Merge the lowest-ranked adjacent pair, leftmost on ties, until none is
  // left: the order Hugging Face's priority queue pops them in.
  while (symbols.size() > 1) {
    int32_t bestRank = std::numeric_limits<int32_t>::max();
    size_t bestPos = 0;
    int32_t bestId = -1;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merges.find(pairKey(symbols[i], symbols[i + 1]));
      if (it != merges.end() && it->second.rank < bestRank) {
        bestRank = it->second.rank;
        bestPos = i;
        bestId = it->second.newId;
      }
    }
    if (bestId < 0)
      break;
    symbols[bestPos] = bestId;
    symbols.erase(symbols.begin() + bestPos + 1);
  }

  out.insert(out.end(), symbols.begin(), symbols.end());
  absl::MutexLock lock(&cacheMutex);
  if (cache.size() >= kCacheCapacity)
    cache.clear();
  cache.emplace(word, std::move(symbols));
}

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer &&) noexcept = default;
BpeTokenizer &BpeTokenizer::operator=(BpeTokenizer &&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

absl::StatusOr<BpeTokenizer>
BpeTokenizer::fromJsonString(std::string_view text, const std::string &source) {
  auto impl = std::make_unique<Impl>();
  absl::Status status;
  absl::StatusOr<json> root = parseUntrustedJson<json>(text, "tokenizer.json");
  if (!root.ok())
    return absl::Status(
        root.status().code(),
        absl::StrCat(source, ": malformed ", root.status().message()));
  try {
    status = impl->parse(*root);
  } catch (const json::exception &e) {
    // Fields of the wrong JSON type land here.
    status = invalid(absl::StrCat("malformed tokenizer.json: ",
                                  quoteBounded(e.what(), 200)));
  } catch (const std::bad_alloc &) {
    status = absl::ResourceExhaustedError(
        "out of memory building the tokenizer's tables");
  } catch (const std::length_error &) {
    status = absl::ResourceExhaustedError(
        "the tokenizer's tables exceed what this build can hold");
  }
  if (!status.ok())
    return absl::Status(status.code(),
                        absl::StrCat(source, ": ", status.message()));
  return BpeTokenizer(std::move(impl));
}

absl::StatusOr<BpeTokenizer> BpeTokenizer::fromJson(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open tokenizer file"));
  std::stringstream text;
  text << in.rdbuf();
  return fromJsonString(text.str(), path);
}

absl::StatusOr<std::vector<int64_t>>
BpeTokenizer::encode(std::string_view text, bool addSpecialTokens) const {
  if (size_t bad = findInvalidUtf8(text); bad != std::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer input is not valid UTF-8 at byte ", bad, " (byte 0x",
        absl::Hex(static_cast<unsigned char>(text[bad]), absl::kZeroPad2),
        ")"));
  std::vector<int32_t> ids;
  if (addSpecialTokens)
    ids = impl->templatePrefix;
  std::vector<TextPiece> pieces;
  impl->addedTokens.split(text, pieces);
  std::vector<std::string> words;
  for (const TextPiece &piece : pieces) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
      continue;
    }
    words.clear();
    absl::Status s = impl->preTokenizer.split(
        text.substr(piece.begin, piece.end - piece.begin), words);
    if (!s.ok())
      return s;
    for (const std::string &word : words)
      impl->bpe(word, ids);
  }
  if (addSpecialTokens)
    ids.insert(ids.end(), impl->templateSuffix.begin(),
               impl->templateSuffix.end());
  return std::vector<int64_t>(ids.begin(), ids.end());
}

absl::StatusOr<std::string> BpeTokenizer::decode(absl::Span<const int64_t> ids,
                                                 bool skipSpecialTokens) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    if (id < 0 || id >= static_cast<int64_t>(impl->kinds.size()) ||
        impl->kinds[id] == IdKind::none)
      return absl::OutOfRangeError(
          absl::StrCat("token id ", id, " at position ", i,
                       " names no token (vocabulary size ", vocabSize(), ")"));
    if (skipSpecialTokens && impl->kinds[id] == IdKind::special)
      continue;
    out += impl->decoded[id];
  }
  return out;
}

int64_t BpeTokenizer::vocabSize() const {
  return static_cast<int64_t>(impl->kinds.size());
}

std::optional<int64_t> BpeTokenizer::tokenToId(std::string_view token) const {
  if (auto it = impl->addedByContent.find(key(token));
      it != impl->addedByContent.end())
    return it->second;
  if (auto it = impl->vocab.find(key(token)); it != impl->vocab.end())
    return it->second;
  return std::nullopt;
}

std::optional<std::string> BpeTokenizer::idToToken(int64_t id) const {
  if (id < 0 || id >= vocabSize() || impl->kinds[id] == IdKind::none)
    return std::nullopt;
  return impl->spelling[id];
}

bool BpeTokenizer::isSpecial(int64_t id) const {
  return id >= 0 && id < vocabSize() && impl->kinds[id] == IdKind::special;
}

} // namespace kiln::tokenizer
