//===- Regex.h - PCRE2 patterns for pre-tokenizer splits --------*- C++ -*-===//
//
// Byte-level BPE pre-tokenizers use Oniguruma-flavoured patterns (\p{L},
// lookahead `\s+(?!\S)`, `(?i:...)`) that std::regex and RE2 cannot run;
// PCRE2 in UTF + UCP mode can. pcre2.h stays out of this header.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TOKENIZER_REGEX_H
#define KILN_MODELS_TOKENIZER_REGEX_H

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

struct pcre2_real_code_8;

namespace kiln::tokenizer {

/// A compiled pattern; copies share it (PCRE2 code is read-only when matching,
/// so one Regex may be used from many threads).
class Regex {
public:
  /// `literal` compiles `pattern` as a plain string (Split's {"String": ...}).
  static absl::StatusOr<Regex> compile(std::string_view pattern,
                                       bool literal = false);

  /// Appends the [begin, end) byte ranges of the successive non-overlapping
  /// matches in `text`, which must be valid UTF-8. An empty match is reported
  /// and the search resumes one character later, as Oniguruma's find_iter does.
  absl::Status findAll(std::string_view text,
                       std::vector<std::pair<size_t, size_t>> &matches) const;

  /// True if the pattern matches at the start of `text` (valid UTF-8).
  bool matchesPrefix(std::string_view text) const;

  const std::string &pattern() const { return source; }

private:
  std::shared_ptr<pcre2_real_code_8> code;
  std::string source;
};

} // namespace kiln::tokenizer

#endif // KILN_MODELS_TOKENIZER_REGEX_H
