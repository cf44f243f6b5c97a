//===- FlagParsing.h - `--flag=VALUE` arguments of the binaries -*- C++ -*-===//
//
// The binaries in tools/ and bench/ read their arguments one `--flag=VALUE` at
// a time; these are the pieces of that they share. Header-only, so that the
// statically linked runtime-only binaries need no library for it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TOOLS_FLAGPARSING_H
#define KILN_TOOLS_FLAGPARSING_H

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace kiln::tools {

/// VALUE (possibly empty) when `arg` is `flag=VALUE`, else nothing.
inline std::optional<std::string> flagValue(const std::string &arg,
                                            std::string_view flag) {
  std::string prefix = std::string(flag) + "=";
  if (arg.rfind(prefix, 0) != 0)
    return std::nullopt;
  return arg.substr(prefix.size());
}

/// The same, storing VALUE into `out`: for `a(..) || b(..)` chains of string
/// flags. `out` is left alone when `arg` is another flag.
inline bool flagValue(const std::string &arg, std::string_view flag,
                      std::string &out) {
  std::optional<std::string> v = flagValue(arg, flag);
  if (v)
    out = std::move(*v);
  return v.has_value();
}

/// An integer flag and the variable its value goes to.
struct IntFlag {
  std::string_view flag;
  int64_t *target;
};

/// The target of the one of `flags` that `arg` sets, with its VALUE in
/// `value`; null when `arg` sets none of them. Lets a binary parse all its
/// integer flags with one check.
inline int64_t *intFlagTarget(const std::string &arg,
                              std::initializer_list<IntFlag> flags,
                              std::string &value) {
  for (const IntFlag &f : flags)
    if (flagValue(arg, f.flag, value))
      return f.target;
  return nullptr;
}

/// `text` as a base-10 integer; nothing when it is empty, has anything after
/// the digits or overflows int64.
inline std::optional<int64_t> parseInt(const std::string &text) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno)
    return std::nullopt;
  return v;
}

} // namespace kiln::tools

#endif // KILN_TOOLS_FLAGPARSING_H
