//===- RegexDfa.h - a regular expression as a byte automaton     -*- C++
//-*-===//
//
// Compiles the regex a constrained request names (kiln_regex, or the one a
// JSON schema becomes) into a ByteDfa that accepts exactly the UTF-8 texts the
// pattern matches in whole. The pattern is over code points; classes become
// UTF-8 byte sequences, so every accepted text is valid UTF-8.
//
// The subset (documented in docs/SERVING_CONSTRAINTS.md): literals, `.`
// (any code point but newline), classes `[a-z]`, `[^<]`, escapes `\d \w \s
// \D \W \S \n \r \t \f \v \xHH \uHHHH` and escaped punctuation, groups `(...)`
// and `(?:...)`, `|`, quantifiers `* + ? {n} {n,} {n,m}` (a lazy `?` after
// one changes nothing here), `^` first and `$` last. Refused, by name:
// backreferences, lookaround and other `(?` groups, word boundaries, anchors
// elsewhere, counts above kMaxRepeat, and patterns whose automaton would
// exceed kMaxDfaStates.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_REGEXDFA_H
#define KILN_SERVING_REGEXDFA_H

#include <string_view>

#include "absl/status/statusor.h"
#include "serving/ByteDfa.h"

namespace kiln::serving {

inline constexpr int kMaxRepeat = 1000;
inline constexpr int kMaxDfaStates = 20000;

/// InvalidArgument naming the construct and its offset in `pattern` when the
/// pattern is malformed or outside the subset, or when it matches nothing.
absl::StatusOr<ByteDfa> compileRegex(std::string_view pattern);

/// `text` with every regex metacharacter escaped, so it matches itself.
std::string escapeRegex(std::string_view text);

} // namespace kiln::serving

#endif // KILN_SERVING_REGEXDFA_H
