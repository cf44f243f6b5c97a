//===- ByteTokenizer.cpp - bytes plus the tasks' special tokens -----------===//

#include "models/tokenizer/ByteTokenizer.h"

#include "absl/strings/str_cat.h"

namespace kiln::tokenizer {

const std::array<std::string_view, ByteTokenizer::kNumSpecial> &
ByteTokenizer::specialTokens() {
  static constexpr std::array<std::string_view, kNumSpecial> kTokens = {
      "<pad>",    "<bos>",    "<eos>",    "<think>",
      "</think>", "<answer>", "</answer>"};
  return kTokens;
}

std::optional<int64_t> ByteTokenizer::tokenToId(std::string_view token) const {
  const auto &specials = specialTokens();
  for (int64_t i = 0; i < kNumSpecial; ++i)
    if (specials[i] == token)
      return 256 + i;
  if (token.size() == 1)
    return static_cast<unsigned char>(token[0]);
  return std::nullopt;
}

absl::StatusOr<std::string> ByteTokenizer::idToToken(int64_t id) const {
  if (id < 0 || id >= kVocabSize)
    return absl::OutOfRangeError(
        absl::StrCat("token id ", id, " is outside the byte tokenizer's [0, ",
                     kVocabSize, ")"));
  if (id < 256)
    return std::string(1, static_cast<char>(id));
  return std::string(specialTokens()[id - 256]);
}

std::vector<int64_t> ByteTokenizer::encode(std::string_view text) const {
  const auto &specials = specialTokens();
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    if (text[pos] == '<') {
      // No special token is a prefix of another, so the first hit is the
      // only one.
      int64_t hit = -1;
      for (int64_t i = 0; i < kNumSpecial && hit < 0; ++i)
        if (text.compare(pos, specials[i].size(), specials[i]) == 0)
          hit = i;
      if (hit >= 0) {
        ids.push_back(256 + hit);
        pos += specials[hit].size();
        continue;
      }
    }
    ids.push_back(static_cast<unsigned char>(text[pos]));
    ++pos;
  }
  return ids;
}

absl::StatusOr<std::string>
ByteTokenizer::decode(absl::Span<const int64_t> ids,
                      bool skipSpecialTokens) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    if (id < 0 || id >= kVocabSize)
      return absl::OutOfRangeError(absl::StrCat(
          "token id ", id, " at position ", i,
          " is outside the byte tokenizer's [0, ", kVocabSize, ")"));
    if (id < 256)
      out.push_back(static_cast<char>(id));
    else if (!skipSpecialTokens)
      out += specialTokens()[id - 256];
  }
  return out;
}

} // namespace kiln::tokenizer
