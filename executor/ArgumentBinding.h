//===- ArgumentBinding.h - caller inputs against an entry point -*- C++ -*-===//
//
// How a caller's tensors meet an entry point's arguments and results, the same
// on every device: which arguments the caller feeds, that they have the
// declared dtype and shape, and the by-name forms of run.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_ARGUMENTBINDING_H
#define KILN_EXECUTOR_ARGUMENTBINDING_H

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/HostTensor.h"
#include "executor/executable.pb.h"

namespace kiln {

/// The arguments not fed from state, in order: what `run` takes as inputs.
std::vector<const proto::Argument *>
callerArguments(const proto::EntryPoint &entry);

/// NotFound for an entry point `exe` lacks, listing those it has.
absl::Status noSuchEntry(const proto::Executable &exe, std::string_view name);

/// The count of `inputs` and each one's dtype and shape match the caller-fed
/// arguments of `entry`.
absl::Status checkInputs(const proto::EntryPoint &entry,
                         const std::vector<HostTensor> &inputs);

/// `inputs` by argument name, in argument order; a missing or unknown name is
/// InvalidArgument.
absl::StatusOr<std::vector<HostTensor>>
orderInputs(const proto::EntryPoint &entry,
            const std::map<std::string, HostTensor> &inputs);

/// One flag per result of `entry`: whether it is named in `wanted` (empty
/// when `wanted` is: every result). A name that is not a result the entry
/// returns to its caller is InvalidArgument.
absl::StatusOr<std::vector<bool>>
wantedResults(const proto::EntryPoint &entry,
              const std::vector<std::string> &wanted);

/// The results not written to state (as `run` returns them) by result name.
std::map<std::string, HostTensor> nameResults(const proto::EntryPoint &entry,
                                              std::vector<HostTensor> results);

} // namespace kiln

#endif // KILN_EXECUTOR_ARGUMENTBINDING_H
