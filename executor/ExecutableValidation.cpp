//===- ExecutableValidation.cpp - checks every executor makes -------------===//
//
// Kept in one place so that the CPU and CUDA executors reject the same broken
// Executables with the same words.
//
//===----------------------------------------------------------------------===//

#include "executor/ExecutableValidation.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "executor/DType.h"
#include "executor/HostTensor.h"
#include "executor/StatusMacros.h"

namespace kiln {

// Every buffer is sized from these types: a count that wraps would make a
// kernel write past a short allocation.
absl::Status checkTensorType(const proto::TensorType &type,
                             absl::string_view what) {
  return checkTensorType(type.dtype(), type.shape(), std::string(what));
}

bool sameTensorType(const proto::TensorType &a, const proto::TensorType &b) {
  return a.dtype() == b.dtype() &&
         std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(),
                    b.shape().end());
}

namespace {

using StateTable = absl::flat_hash_map<std::string, const proto::StateEntry *>;

/// An argument or result names a buffer of the entry and, when it is bound to
/// state, a state entry of the same type.
absl::Status checkBinding(const proto::EntryPoint &ep, const StateTable &state,
                          absl::string_view kind, const std::string &name,
                          const std::string &stateName, int buffer) {
  int nb = ep.buffers_size();
  if (buffer < 0 || buffer >= nb)
    return absl::InvalidArgumentError(absl::StrCat(
        "entry '", ep.name(), "' ", kind, " '", name, "' uses buffer ", buffer,
        " but there are ", nb, " buffers"));
  if (stateName.empty())
    return absl::OkStatus();
  auto it = state.find(stateName);
  if (it == state.end())
    return absl::InvalidArgumentError(
        absl::StrCat("entry '", ep.name(), "' ", kind, " '", name,
                     "' names unknown state entry '", stateName, "'"));
  if (!sameTensorType(it->second->type(), ep.buffers(buffer)))
    return absl::InvalidArgumentError(absl::StrCat(
        "entry '", ep.name(), "' ", kind, " '", name, "' has type ",
        typeString(ep.buffers(buffer)), " but state entry '", stateName,
        "' is ", typeString(it->second->type())));
  return absl::OkStatus();
}

absl::Status validateEntry(const proto::Executable &exe,
                           const proto::EntryPoint &ep, const StateTable &state,
                           const ExecutableRules &rules) {
  int nb = ep.buffers_size();
  for (int b = 0; b < nb; ++b)
    KILN_RETURN_IF_ERROR(checkTensorType(
        ep.buffers(b), absl::StrCat("entry '", ep.name(), "' buffer ", b)));
  for (const proto::Argument &a : ep.arguments())
    KILN_RETURN_IF_ERROR(
        checkBinding(ep, state, "argument", a.name(), a.state(), a.buffer()));
  for (const proto::Result &r : ep.results()) {
    KILN_RETURN_IF_ERROR(
        checkBinding(ep, state, "result", r.name(), r.state(), r.buffer()));
    if (r.aliases_argument() < -1 ||
        r.aliases_argument() >= ep.arguments_size())
      return absl::InvalidArgumentError(absl::StrCat(
          "entry '", ep.name(), "' result '", r.name(), "' aliases argument ",
          r.aliases_argument(), " of ", ep.arguments_size()));
  }
  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &s = ep.steps(i);
    for (const auto *ids : {&s.inputs(), &s.outputs(), &s.release()})
      for (int b : *ids)
        if (b < 0 || b >= nb)
          return absl::InvalidArgumentError(
              absl::StrCat(rules.describeStep(ep, i), ": buffer id ", b,
                           " is out of range (", nb, " buffers)"));
    KILN_RETURN_IF_ERROR(rules.checkStep(exe, ep, i));
  }
  if (rules.checkEntry)
    KILN_RETURN_IF_ERROR(rules.checkEntry(exe, ep));
  return absl::OkStatus();
}

/// Derived state names the entry that computes it: one that takes only
/// state, reads no derived state (no chains to order) and writes this one;
/// its sources are state entries.
absl::Status validateDerivedState(const proto::Executable &exe,
                                  const proto::StateEntry &s,
                                  const StateTable &state) {
  const std::string what = absl::StrCat("derived state entry '", s.name(), "'");
  for (const std::string &source : s.sources())
    if (!state.contains(source))
      return absl::InvalidArgumentError(absl::StrCat(
          what, " names unknown source state entry '", source, "'"));
  const proto::EntryPoint *derive = nullptr;
  for (const proto::EntryPoint &ep : exe.entries())
    if (ep.name() == s.derive_entry())
      derive = &ep;
  if (!derive)
    return absl::InvalidArgumentError(absl::StrCat(
        what, " names unknown entry '", s.derive_entry(), "'"));
  for (const proto::Argument &a : derive->arguments()) {
    auto it = state.find(a.state());
    if (a.state().empty() || it == state.end() ||
        !it->second->derive_entry().empty())
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": its entry '", derive->name(), "' argument '", a.name(),
          "' is not a source state"));
  }
  for (const proto::Result &r : derive->results())
    if (r.state() == s.name())
      return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": its entry '", derive->name(), "' does not write it"));
}

} // namespace

absl::Status validateExecutable(const proto::Executable &exe,
                                const ExecutableRules &rules) {
  if (exe.target() != rules.target)
    return absl::InvalidArgumentError(
        absl::StrCat("the Executable targets '", exe.target(), "'; ",
                     rules.executorName, " runs only '", rules.target, "'"));
  StateTable state;
  for (const proto::StateEntry &s : exe.state()) {
    if (s.name().empty() || !state.emplace(s.name(), &s).second)
      return absl::InvalidArgumentError(absl::StrCat(
          "state entry name '", s.name(), "' is empty or repeated"));
    KILN_RETURN_IF_ERROR(checkTensorType(
        s.type(), absl::StrCat("state entry '", s.name(), "'")));
  }
  for (const proto::StateEntry &s : exe.state())
    if (!s.derive_entry().empty())
      KILN_RETURN_IF_ERROR(validateDerivedState(exe, s, state));
  absl::flat_hash_set<std::string> entries;
  for (const proto::EntryPoint &ep : exe.entries()) {
    if (!entries.insert(ep.name()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("entry '", ep.name(), "' is repeated"));
    KILN_RETURN_IF_ERROR(validateEntry(exe, ep, state, rules));
  }
  return absl::OkStatus();
}

} // namespace kiln
