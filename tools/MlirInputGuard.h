//===- MlirInputGuard.h - refuse IR that crashes upstream MLIR 19 -*- C++
//-*-===//
//
// Two inputs crash MLIR 19 itself, before any Kiln code sees them: nesting
// thousands of levels deep (the parser recurses per level and overflows the
// stack near 10,000) and `array<i1: ...>` attributes (printing them aborts).
// kiln-compile and kiln-opt check the text first and refuse both with a
// message; what remains is documented in README ("Hardening").
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_MLIRINPUTGUARD_H
#define KILN_TOOLS_MLIRINPUTGUARD_H

#include <string>
#include <string_view>

namespace kiln::tools {

/// Far deeper than any IR Kiln writes or reads (a few tens of levels), far
/// below where MLIR's recursive parser runs out of stack.
constexpr int kMaxMlirNesting = 512;

/// An empty string, or why `text` (named `name`) is refused.
inline std::string checkMlirInput(std::string_view text,
                                  const std::string &name) {
  int depth = 0, line = 1;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      continue;
    }
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character cannot end the string
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i + 1 < text.size() && text[i + 1] != '\n')
        ++i;
      continue;
    }
    switch (c) {
    case '"':
      inString = true;
      break;
    case '(':
    case '[':
    case '{':
    case '<':
      if (++depth > kMaxMlirNesting)
        return name + ":" + std::to_string(line) +
               ": brackets nest deeper than " +
               std::to_string(kMaxMlirNesting) +
               " levels; MLIR 19's parser would overflow its stack on such "
               "input";
      break;
    case ')':
    case ']':
    case '}':
    case '>':
      // '->' is an arrow, not a closing bracket.
      if (!(c == '>' && i > 0 && text[i - 1] == '-') && depth > 0)
        --depth;
      break;
    case 'a':
      if (text.compare(i, 9, "array<i1:") == 0 ||
          text.compare(i, 9, "array<i1>") == 0)
        return name + ":" + std::to_string(line) +
               ": array<i1...> attributes crash MLIR 19 when printed; no kiln "
               "op "
               "takes one (use array<i64: ...> of 0/1)";
      break;
    default:
      break;
    }
  }
  return "";
}

} // namespace kiln::tools

#endif // KILN_TOOLS_MLIRINPUTGUARD_H
