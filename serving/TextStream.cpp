//===- TextStream.cpp - a sequence's tokens as streamed text --------------===//

#include "serving/TextStream.h"

#include <algorithm>

#include "models/tokenizer/Utf8.h"

namespace kiln::serving {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

/// Length of the longest proper prefix of `word` that ends `text`.
size_t partialSuffix(std::string_view text, std::string_view word) {
  for (size_t n = std::min(text.size(), word.size() - 1); n > 0; --n)
    if (text.substr(text.size() - n) == word.substr(0, n))
      return n;
  return 0;
}

} // namespace

size_t incompleteUtf8Tail(const std::string &text) {
  // A lead byte within the last three bytes whose sequence runs past the end.
  for (size_t back = 1; back <= std::min<size_t>(3, text.size()); ++back) {
    unsigned char c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80)
      continue;
    size_t need = tokenizer::utf8SequenceLength(c);
    return need > back ? back : 0;
  }
  return 0;
}

TextStream::TextStream(const tokenizer::TextTokenizer &tokenizer,
                       std::vector<std::string> stops, bool reasons)
    : tokenizer(tokenizer), reasons(reasons) {
  for (std::string &s : stops)
    if (!s.empty())
      this->stops.push_back(std::move(s));
}

bool TextStream::add(int64_t token) {
  if (matched)
    return false;
  // Byte-level tokenizers decode a sequence as the concatenation of its
  // tokens' bytes, so one token at a time gives the same text. An id past the
  // tokenizer (a padded embedding row) spells nothing.
  auto piece = tokenizer.decode({token});
  size_t before = full.size();
  if (piece.ok())
    full += *piece;
  size_t longest = 0;
  for (const std::string &s : stops)
    longest = std::max(longest, s.size());
  size_t from = before >= longest ? before - longest + 1 : 0;
  size_t first = std::string::npos;
  for (const std::string &s : stops)
    first = std::min(first, full.find(s, from));
  if (first != std::string::npos) {
    full.resize(first);
    matched = true;
    closed = true;
    return false;
  }
  return true;
}

size_t TextStream::stableEnd() const {
  if (closed)
    return full.size();
  size_t hold = incompleteUtf8Tail(full);
  std::string_view view(full);
  view = view.substr(0, full.size() - hold);
  size_t stopHold = 0;
  for (const std::string &s : stops)
    stopHold = std::max(stopHold, partialSuffix(view, s));
  return view.size() - stopHold;
}

void TextStream::route(const std::string &piece, TextDelta &out) {
  if (!reasons) {
    out.content += piece;
    return;
  }
  pending += piece;
  if (phase == 0) {
    // Hold while the text could still become "<think>".
    if (!closed && pending.size() < kOpen.size() &&
        std::string_view(kOpen).substr(0, pending.size()) == pending)
      return;
    if (pending.compare(0, kOpen.size(), kOpen) == 0)
      pending.erase(0, kOpen.size());
    phase = 1;
  }
  if (phase == 1) {
    size_t end = pending.find(kClose);
    if (end == std::string::npos) {
      size_t hold = closed ? 0 : partialSuffix(pending, kClose);
      out.reasoning += pending.substr(0, pending.size() - hold);
      pending.erase(0, pending.size() - hold);
      return;
    }
    out.reasoning += pending.substr(0, end);
    pending.erase(0, end + kClose.size());
    phase = 2;
  }
  out.content += pending;
  pending.clear();
}

TextDelta TextStream::take() {
  TextDelta out;
  size_t end = stableEnd();
  std::string piece = end > taken ? full.substr(taken, end - taken) : "";
  taken = std::max(taken, end);
  route(piece, out);
  return out;
}

} // namespace kiln::serving
