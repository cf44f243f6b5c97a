//===- ExecutableValidation.h - checks every executor makes -----*- C++ -*-===//
//
// The structure of an Executable that every device relies on (state table,
// entry names, buffer types, argument and result bindings, step buffer ids),
// checked once here; a device adds its own rules for steps and memory plans.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_EXECUTABLEVALIDATION_H
#define KILN_EXECUTOR_EXECUTABLEVALIDATION_H

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "executor/executable.pb.h"

namespace kiln {

/// A valid dtype and no negative dimension; messages start with `what`.
absl::Status checkTensorType(const proto::TensorType &type,
                             absl::string_view what);

/// Same dtype and shape.
bool sameTensorType(const proto::TensorType &a, const proto::TensorType &b);


/// What one kind of executor adds to the shared checks.
struct ExecutableRules {
  /// The only `Executable.target` the executor runs ("host", "ptx").
  std::string target;
  /// "the CPU executor": names the executor when the target is wrong.
  std::string executorName;
  /// Names step `i` of `entry` in messages, as the executor does at run time.
  std::function<std::string(const proto::EntryPoint &entry, int i)>
      describeStep;
  /// The executor's own rules for step `i` (its ops); runs once the step's
  /// buffer ids are known to be in range.
  std::function<absl::Status(const proto::Executable &exe,
                             const proto::EntryPoint &entry, int i)>
      checkStep;
  /// The executor's own rules for a whole entry (memory plans); runs after
  /// every shared check of that entry passed. May be empty.
  std::function<absl::Status(const proto::Executable &exe,
                             const proto::EntryPoint &entry)>
      checkEntry;
};

/// Checks `exe` against the shared structure and `rules`; the first problem
/// comes back as InvalidArgument (or what a rule returns), naming the entry,
/// step or state entry at fault.
absl::Status validateExecutable(const proto::Executable &exe,
                                const ExecutableRules &rules);

} // namespace kiln

#endif // KILN_EXECUTOR_EXECUTABLEVALIDATION_H
