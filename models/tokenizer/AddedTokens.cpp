//===- AddedTokens.cpp - added_tokens, matched in text --------------------===//

#include "models/tokenizer/AddedTokens.h"

#include <algorithm>

#include "models/tokenizer/Regex.h"
#include "models/tokenizer/Utf8.h"

namespace kiln::tokenizer {

namespace {

/// Rust regex's Unicode `\w` (Alphabetic, marks, decimal and letter numbers,
/// connector punctuation, joiners), which Hugging Face tests single_word with.
bool isWordChar(std::string_view ch) {
  static const Regex *word = [] {
    auto compiled =
        Regex::compile(R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}])");
    return new Regex(*std::move(compiled));
  }();
  return word->matchesPrefix(ch);
}

bool endsWithWord(std::string_view text) {
  if (text.empty())
    return false;
  return isWordChar(text.substr(previousCharStart(text, text.size())));
}

bool startsWithWord(std::string_view text) {
  if (text.empty())
    return false;
  return isWordChar(
      text.substr(0, utf8SequenceLength(static_cast<unsigned char>(text[0]))));
}

/// Start of the whitespace run that ends `text`.
size_t leadingEdgeOfTrailingSpace(std::string_view text) {
  size_t pos = text.size();
  while (pos > 0) {
    size_t start = previousCharStart(text, pos), len = 0;
    if (!isUnicodeWhiteSpace(decodeUtf8At(text, start, len)))
      break;
    pos = start;
  }
  return pos;
}

/// Length of the whitespace run that starts `text`.
size_t leadingSpaceLength(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    if (!isUnicodeWhiteSpace(decodeUtf8At(text, pos, len)))
      break;
    pos += len;
  }
  return pos;
}

} // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens)
    : all(std::move(tokens)) {
  for (size_t i = 0; i < all.size(); ++i) {
    const AddedToken &token = all[i];
    if (token.content.empty())
      continue;
    ByFirstByte &set = token.normalized ? normalized : raw;
    anyNormalized |= token.normalized;
    set[static_cast<unsigned char>(token.content[0])].push_back(
        static_cast<int>(i));
  }
  for (ByFirstByte *set : {&raw, &normalized})
    for (std::vector<int> &bucket : *set)
      std::stable_sort(bucket.begin(), bucket.end(), [&](int a, int b) {
        return all[a].content.size() > all[b].content.size();
      });
}

void AddedTokenMatcher::findMatches(std::string_view sentence, size_t base,
                                    const ByFirstByte &set,
                                    std::vector<TextPiece> &out) const {
  size_t startOffset = 0;
  size_t pos = 0;
  while (pos < sentence.size()) {
    const std::vector<int> &bucket =
        set[static_cast<unsigned char>(sentence[pos])];
    const AddedToken *hit = nullptr;
    for (int index : bucket) {
      const std::string &content = all[index].content;
      if (sentence.compare(pos, content.size(), content) == 0) {
        hit = &all[index];
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + hit->content.size();
    // Like an Aho-Corasick iterator, the search resumes after this match even
    // when single_word discards it.
    pos = stop;
    if (hit->singleWord) {
      bool spaceBefore = start == 0 || !endsWithWord(sentence.substr(0, start));
      bool spaceAfter =
          stop == sentence.size() || !startsWithWord(sentence.substr(stop));
      if (!spaceBefore || !spaceAfter)
        continue;
    }
    if (hit->lstrip)
      start = std::max(leadingEdgeOfTrailingSpace(sentence.substr(0, start)),
                       startOffset);
    if (hit->rstrip)
      stop += leadingSpaceLength(sentence.substr(stop));
    if (startOffset < start)
      out.push_back({base + startOffset, base + start, -1});
    out.push_back({base + start, base + stop, hit->id});
    startOffset = stop;
    pos = std::max(pos, stop);
  }
  if (startOffset < sentence.size())
    out.push_back({base + startOffset, base + sentence.size(), -1});
}

void AddedTokenMatcher::split(std::string_view text,
                              std::vector<TextPiece> &out) const {
  std::vector<TextPiece> first;
  findMatches(text, 0, raw, first);
  if (!anyNormalized) {
    out.insert(out.end(), first.begin(), first.end());
    return;
  }
  for (const TextPiece &piece : first) {
    if (piece.id >= 0)
      out.push_back(piece);
    else
      findMatches(text.substr(piece.begin, piece.end - piece.begin),
                  piece.begin, normalized, out);
  }
}

} // namespace kiln::tokenizer
