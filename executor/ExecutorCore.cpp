//===- ExecutorCore.cpp - one executor over any device --------------------===//

#include "executor/ExecutorCore.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "executor/ArgumentBinding.h"
#include "executor/ExecutableQueries.h"
#include "executor/StateInit.h"
#include "executor/StatusMacros.h"

namespace kiln {

ExecutorCore::ExecutorCore(proto::Executable exe) : exe_(std::move(exe)) {
  state_.resize(exe_.state_size());
  for (int i = 0; i < exe_.state_size(); ++i)
    stateIndexByName.emplace(exe_.state(i).name(), i);
  versions.assign(exe_.state_size(), 0);
  computedFrom.resize(exe_.state_size());
  sourceIndices.resize(exe_.state_size());
  for (int i = 0; i < exe_.state_size(); ++i)
    for (const std::string &source : exe_.state(i).sources())
      sourceIndices[i].push_back(stateIndex(source));
}

ExecutorCore::~ExecutorCore() = default;

void ExecutorCore::setDevice(std::unique_ptr<Device> device) {
  device_ = std::move(device);
}

std::string ExecutorCore::deviceDescription() const {
  return device_->describe();
}

int64_t ExecutorCore::lastPeakBytes() const { return device_->lastPeakBytes(); }
int64_t ExecutorCore::lastOverlappedSteps() const {
  return device_->lastOverlappedSteps();
}

int ExecutorCore::stateIndex(std::string_view name) const {
  auto it = stateIndexByName.find(absl::string_view(name.data(), name.size()));
  return it == stateIndexByName.end() ? -1 : it->second;
}

int ExecutorCore::entryIndex(std::string_view name) const {
  for (int e = 0; e < exe_.entries_size(); ++e)
    if (exe_.entries(e).name() == name)
      return e;
  return -1;
}

std::vector<std::string> ExecutorCore::stateNames() const {
  return stateNamesOf(exe_);
}

std::vector<std::string> ExecutorCore::entryNames() const {
  return entryNamesOf(exe_);
}

const proto::EntryPoint *ExecutorCore::entry(std::string_view name) const {
  return findEntry(exe_, name);
}

absl::Status ExecutorCore::store(int index, HostTensor value) {
  const std::string name =
      absl::StrCat("state entry '", exe_.state(index).name(), "'");
  // The resident buffer is reused, so device addresses stay fixed and captured
  // CUDA graphs stay valid after setState.
  if (!state_[index]) {
    KILN_ASSIGN_OR_RETURN(state_[index],
                          device_->allocate(exe_.state(index).type(), name));
  }
  KILN_RETURN_IF_ERROR(device_->copyIn(*state_[index], std::move(value),
                                       absl::StrCat("uploading ", name)));
  touch(index);
  return absl::OkStatus();
}

bool ExecutorCore::isStale(int index) const {
  if (!state_[index] ||
      computedFrom[index].size() != sourceIndices[index].size())
    return true;
  for (size_t k = 0; k < sourceIndices[index].size(); ++k) {
    int source = sourceIndices[index][k];
    if (source < 0 || versions[source] != computedFrom[index][k])
      return true;
  }
  return false;
}

absl::Status ExecutorCore::refreshDerivedState(const proto::EntryPoint &ep) {
  std::vector<std::string> deriveEntries;
  for (const proto::Argument &a : ep.arguments()) {
    if (a.state().empty())
      continue;
    int si = stateIndex(a.state());
    const std::string &derive = exe_.state(si).derive_entry();
    if (derive.empty() || !isStale(si) ||
        std::find(deriveEntries.begin(), deriveEntries.end(), derive) !=
            deriveEntries.end())
      continue;
    deriveEntries.push_back(derive);
  }
  for (const std::string &derive : deriveEntries) {
    // Validation keeps derive entries to state arguments that are not
    // derived, so this does not recurse further.
    absl::StatusOr<std::vector<HostTensor>> ran = run(derive, {});
    if (!ran.ok())
      return absl::Status(
          ran.status().code(),
          absl::StrCat("computing the derived state that entry '", ep.name(),
                       "' reads: ", ran.status().message()));
    for (const proto::Result &r : entry(derive)->results()) {
      int di = stateIndex(r.state());
      computedFrom[di].clear();
      for (int source : sourceIndices[di])
        computedFrom[di].push_back(source < 0 ? 0 : versions[source]);
    }
  }
  return absl::OkStatus();
}

absl::Status ExecutorCore::materialize(int index) {
  const proto::StateEntry &s = exe_.state(index);
  auto t = initializeTensor(s.type(), s.init(), device_->hostParallelFor());
  if (!t.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("state entry '", s.name(), "': ", t.status().message()));
  return store(index, std::move(*t));
}

absl::Status ExecutorCore::initializeState() {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (!state_[i] && !exe_.state(i).init().kind().empty())
      KILN_RETURN_IF_ERROR(materialize(i));
  return absl::OkStatus();
}

absl::Status ExecutorCore::setState(std::string_view name, HostTensor value) {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(
        absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (isDerivedState(exe_.state(i)))
    return absl::InvalidArgumentError(absl::StrCat(
        "state entry '", std::string(name), "' is derived state, computed by '",
        exe_.state(i).derive_entry(), "' from its sources: set those instead"));
  if (!value.hasType(exe_.state(i).type()))
    return absl::InvalidArgumentError(absl::StrCat(
        "state entry '", std::string(name), "' expects ",
        typeString(exe_.state(i).type()), ", given ", value.typeString()));
  return store(i, std::move(value));
}

absl::StatusOr<HostTensor> ExecutorCore::getState(std::string_view name) const {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(
        absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (!state_[i])
    return absl::FailedPreconditionError(
        absl::StrCat("state entry '", std::string(name),
                     "' has no value yet (setState or initializeState first)"));
  return device_->copyOut(
      *state_[i], exe_.state(i).type(),
      absl::StrCat("downloading state entry '", std::string(name), "'"));
}

absl::StatusOr<std::vector<HostTensor>>
ExecutorCore::run(std::string_view name,
                  const std::vector<HostTensor> &inputs) {
  return runEntry(name, inputs, {});
}

absl::StatusOr<std::vector<HostTensor>>
ExecutorCore::runEntry(std::string_view name,
                       const std::vector<HostTensor> &inputs,
                       std::vector<bool> wanted) {
  int index = entryIndex(name);
  if (index < 0)
    return noSuchEntry(exe_, name);
  const proto::EntryPoint &ep = exe_.entries(index);
  KILN_RETURN_IF_ERROR(checkInputs(ep, inputs));
  KILN_RETURN_IF_ERROR(device_->ready());
  KILN_RETURN_IF_ERROR(refreshDerivedState(ep));
  // State this entry reads must exist before the device binds it.
  for (const proto::Argument &a : ep.arguments()) {
    if (a.state().empty())
      continue;
    int si = stateIndex(a.state());
    if (state_[si])
      continue;
    if (exe_.state(si).init().kind().empty())
      return absl::FailedPreconditionError(
          absl::StrCat("entry '", ep.name(), "' argument '", a.name(),
                       "' reads state entry '", a.state(),
                       "', which has no value and no initializer"));
    KILN_RETURN_IF_ERROR(materialize(si));
  }
  // State only written here (derived state, on its first computation) needs
  // a resident buffer to receive the result.
  for (const proto::Result &r : ep.results()) {
    if (r.state().empty())
      continue;
    int si = stateIndex(r.state());
    if (!state_[si]) {
      KILN_ASSIGN_OR_RETURN(
          state_[si],
          device_->allocate(exe_.state(si).type(),
                            absl::StrCat("state entry '", r.state(), "'")));
    }
  }

  EntryCall call;
  call.entryIndex = index;
  call.entry = &ep;
  call.inputs = &inputs;
  call.wanted = std::move(wanted);
  for (const proto::Argument &a : ep.arguments())
    call.argumentState.push_back(
        a.state().empty() ? nullptr : state_[stateIndex(a.state())].get());
  for (const proto::Result &r : ep.results())
    call.resultState.push_back(
        r.state().empty() ? nullptr : &state_[stateIndex(r.state())]);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<EntryRun> launched,
                        device_->launch(call));
  // Every step was issued without error: only now is state replaced, so a
  // failure leaves it intact.
  for (int k = 0; k < ep.results_size(); ++k)
    if (call.resultState[k]) {
      KILN_RETURN_IF_ERROR(launched->writeBack(k, *call.resultState[k]));
      touch(stateIndex(ep.results(k).state()));
    }
  KILN_RETURN_IF_ERROR(launched->synchronize());
  return launched->takeResults();
}

absl::StatusOr<std::map<std::string, HostTensor>>
ExecutorCore::runNamed(std::string_view name,
                       const std::map<std::string, HostTensor> &inputs,
                       const std::vector<std::string> &wanted) {
  const proto::EntryPoint *ep = entry(name);
  if (!ep)
    return noSuchEntry(exe_, name);
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> ordered,
                        orderInputs(*ep, inputs));
  KILN_ASSIGN_OR_RETURN(std::vector<bool> mask, wantedResults(*ep, wanted));
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> outs,
                        runEntry(name, ordered, mask));
  std::map<std::string, HostTensor> named = nameResults(*ep, std::move(outs));
  for (int k = 0; k < ep->results_size(); ++k)
    if (!mask.empty() && !mask[k])
      named.erase(ep->results(k).name());
  return named;
}

} // namespace kiln
