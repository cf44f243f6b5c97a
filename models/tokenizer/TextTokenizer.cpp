//===- TextTokenizer.cpp - the tokenizer of a model directory -------------===//

#include "models/tokenizer/TextTokenizer.h"

#include "absl/strings/str_cat.h"
#include "models/tokenizer/BpeTokenizer.h"
#include "models/tokenizer/ByteTokenizer.h"
#include "models/tokenizer/Utf8.h"

namespace kiln::tokenizer {

namespace {

class ByteText final : public TextTokenizer {
public:
  absl::StatusOr<std::vector<int64_t>>
  encode(std::string_view text) const override {
    if (findInvalidUtf8(text) != std::string_view::npos)
      return absl::InvalidArgumentError("text is not valid UTF-8");
    return tok.encode(text);
  }
  absl::StatusOr<std::string>
  decode(absl::Span<const int64_t> ids) const override {
    std::vector<int64_t> kept;
    kept.reserve(ids.size());
    for (int64_t id : ids)
      if (id != ByteTokenizer::kPad && id != ByteTokenizer::kBos &&
          id != ByteTokenizer::kEos)
        kept.push_back(id);
    return tok.decode(kept);
  }
  absl::StatusOr<std::string>
  decodeVerbatim(absl::Span<const int64_t> ids) const override {
    return tok.decode(ids);
  }
  int64_t vocabSize() const override { return ByteTokenizer::kVocabSize; }
  std::string spelling(int64_t id) const override {
    if (id < 0 || id >= ByteTokenizer::kVocabSize ||
        id == ByteTokenizer::kPad || id == ByteTokenizer::kBos ||
        id == ByteTokenizer::kEos)
      return "";
    return tok.idToToken(id).value_or("");
  }
  std::optional<int64_t> eosId() const override { return ByteTokenizer::kEos; }
  std::string bosToken() const override { return "<bos>"; }

private:
  ByteTokenizer tok;
};

class BpeText final : public TextTokenizer {
public:
  BpeText(BpeTokenizer tok, std::string bos, std::optional<int64_t> eos)
      : tok(std::move(tok)), bos(std::move(bos)), eos(eos) {}
  absl::StatusOr<std::vector<int64_t>>
  encode(std::string_view text) const override {
    return tok.encode(text);
  }
  absl::StatusOr<std::string>
  decode(absl::Span<const int64_t> ids) const override {
    return tok.decode(ids, /*skipSpecialTokens=*/true);
  }
  absl::StatusOr<std::string>
  decodeVerbatim(absl::Span<const int64_t> ids) const override {
    return tok.decode(ids);
  }
  int64_t vocabSize() const override { return tok.vocabSize(); }
  std::string spelling(int64_t id) const override {
    if (tok.isSpecial(id))
      return "";
    return tok.decode({id}).value_or("");
  }
  std::optional<int64_t> eosId() const override { return eos; }
  std::string bosToken() const override { return bos; }

private:
  BpeTokenizer tok;
  std::string bos;
  std::optional<int64_t> eos;
};

} // namespace

std::unique_ptr<TextTokenizer> byteTextTokenizer() {
  return std::make_unique<ByteText>();
}

absl::StatusOr<std::unique_ptr<TextTokenizer>>
bpeTextTokenizer(const std::string &tokenizerJson, const std::string &bosToken,
                 const std::string &eosToken) {
  auto tok = BpeTokenizer::fromJson(tokenizerJson);
  if (!tok.ok())
    return tok.status();
  std::optional<int64_t> eos;
  if (!eosToken.empty()) {
    eos = tok->tokenToId(eosToken);
    if (!eos)
      return absl::InvalidArgumentError(absl::StrCat(
          "eos_token \"", eosToken, "\" is not a token of ", tokenizerJson));
  }
  return std::unique_ptr<TextTokenizer>(
      new BpeText(*std::move(tok), bosToken, eos));
}

} // namespace kiln::tokenizer
