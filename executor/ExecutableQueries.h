//===- ExecutableQueries.h - looking things up in an Executable -*- C++ -*-===//
//
// Name lookups every executor (CPU, CUDA) answers the same way from the proto.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_EXECUTABLEQUERIES_H
#define KILN_EXECUTOR_EXECUTABLEQUERIES_H

#include <string>
#include <string_view>
#include <vector>

#include "executor/executable.pb.h"

namespace kiln {

inline std::vector<std::string> stateNamesOf(const proto::Executable &exe) {
  std::vector<std::string> names;
  for (const proto::StateEntry &s : exe.state())
    names.push_back(s.name());
  return names;
}

inline std::vector<std::string> entryNamesOf(const proto::Executable &exe) {
  std::vector<std::string> names;
  for (const proto::EntryPoint &e : exe.entries())
    names.push_back(e.name());
  return names;
}

/// State an executor computes itself (kiln-hoist-derived-state): callers do
/// not set it and checkpoints do not hold it.
inline bool isDerivedState(const proto::StateEntry &s) {
  return !s.derive_entry().empty();
}

/// The entry point named `name`, or nullptr.
inline const proto::EntryPoint *findEntry(const proto::Executable &exe,
                                          std::string_view name) {
  for (const proto::EntryPoint &e : exe.entries())
    if (e.name() == name)
      return &e;
  return nullptr;
}

} // namespace kiln

#endif // KILN_EXECUTOR_EXECUTABLEQUERIES_H
