//===- TextStream.h - a sequence's tokens as streamed text      -*- C++ -*-===//
//
// Turns generated tokens into the text a client sees: byte-level decoding one
// token at a time, stop strings (the text is cut before the first match), and
// DeepSeek-R1's reasoning split. Streaming holds back what may still change:
// an unfinished UTF-8 character, a possible start of a stop string or of
// "</think>". The concatenated deltas equal the final text.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_TEXTSTREAM_H
#define KILN_SERVING_TEXTSTREAM_H

#include <cstdint>
#include <string>
#include <vector>

#include "models/tokenizer/TextTokenizer.h"

namespace kiln::serving {

struct TextDelta {
  std::string reasoning, content;
  bool empty() const { return reasoning.empty() && content.empty(); }
};

class TextStream {
public:
  /// With `reasons`, text up to "</think>" is reasoning (see
  /// tokenizer::splitReasoning); otherwise everything is content.
  TextStream(const tokenizer::TextTokenizer &tokenizer,
             std::vector<std::string> stops, bool reasons);

  /// Appends a token's text. Returns false once a stop string has matched
  /// (the token that completed it included); later tokens are ignored.
  bool add(int64_t token);
  /// No more tokens: everything held back may go out.
  void close() { closed = true; }
  /// The text that may go out since the last take().
  TextDelta take();

  /// The whole text so far (cut before a matched stop string).
  const std::string &text() const { return full; }
  bool stopped() const { return matched; }

private:
  /// How much of `full` is final now.
  size_t stableEnd() const;
  void route(const std::string &piece, TextDelta &out);

  const tokenizer::TextTokenizer &tokenizer;
  std::vector<std::string> stops;
  bool reasons;
  std::string full;
  size_t taken = 0;
  bool matched = false, closed = false;
  // Reasoning split state: 0 before knowing whether "<think>" opens the text,
  // 1 inside the reasoning, 2 in the content.
  int phase = 0;
  std::string pending;
};

/// Bytes at the end of `text` that begin an incomplete UTF-8 character.
size_t incompleteUtf8Tail(const std::string &text);

} // namespace kiln::serving

#endif // KILN_SERVING_TEXTSTREAM_H
