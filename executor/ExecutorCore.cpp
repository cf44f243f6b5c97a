//===- ExecutorCore.cpp - one executor over any device --------------------===//

#include "executor/ExecutorCore.h"

#include "absl/strings/str_cat.h"
#include "executor/ArgumentBinding.h"
#include "executor/ExecutableQueries.h"
#include "executor/StateInit.h"
#include "executor/StatusMacros.h"

namespace kiln {

ExecutorCore::ExecutorCore(proto::Executable exe) : exe_(std::move(exe)) {
  state_.resize(exe_.state_size());
}

ExecutorCore::~ExecutorCore() = default;

void ExecutorCore::setDevice(std::unique_ptr<Device> device) {
  device_ = std::move(device);
}

std::string ExecutorCore::deviceDescription() const {
  return device_->describe();
}

int64_t ExecutorCore::lastPeakBytes() const { return device_->lastPeakBytes(); }

int ExecutorCore::stateIndex(std::string_view name) const {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (exe_.state(i).name() == name)
      return i;
  return -1;
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
  return device_->copyIn(*state_[index], std::move(value),
                         absl::StrCat("uploading ", name));
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
  int index = entryIndex(name);
  if (index < 0)
    return noSuchEntry(exe_, name);
  const proto::EntryPoint &ep = exe_.entries(index);
  KILN_RETURN_IF_ERROR(checkInputs(ep, inputs));
  KILN_RETURN_IF_ERROR(device_->ready());
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

  EntryCall call;
  call.entryIndex = index;
  call.entry = &ep;
  call.inputs = &inputs;
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
    if (call.resultState[k])
      KILN_RETURN_IF_ERROR(launched->writeBack(k, *call.resultState[k]));
  KILN_RETURN_IF_ERROR(launched->synchronize());
  return launched->takeResults();
}

absl::StatusOr<std::map<std::string, HostTensor>>
ExecutorCore::runNamed(std::string_view name,
                       const std::map<std::string, HostTensor> &inputs) {
  const proto::EntryPoint *ep = entry(name);
  if (!ep)
    return noSuchEntry(exe_, name);
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> ordered,
                        orderInputs(*ep, inputs));
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> outs, run(name, ordered));
  return nameResults(*ep, std::move(outs));
}

} // namespace kiln
