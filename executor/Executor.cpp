// The interpreter of host Executables: validation, resident state, and the step loop
// (allocate outputs from buffer types, run the kernel, free under Step.release).
#define EIGEN_USE_THREADS
#include "executor/Executor.h"
#include "executor/ExecutableQueries.h"

#include <thread>

#include <unsupported/Eigen/CXX11/Tensor>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/StateInit.h"
#include "executor/StatusMacros.h"
#include "executor/cpu/Kernel.h"

namespace kiln {

struct Executor::Threads {
  explicit Threads(int n) : pool(n), device(&pool, n) {}
  Eigen::ThreadPool pool;
  Eigen::ThreadPoolDevice device;
};

Executor::Executor(proto::Executable exe, ExecutorOptions opts)
    : exe_(std::move(exe)), opts_(opts) {
  int n = opts_.numThreads > 0 ? opts_.numThreads
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = std::make_unique<Threads>(n);
  state_.resize(exe_.state_size());
}

Executor::~Executor() = default;

std::string Executor::deviceDescription() const {
  return absl::StrCat("CPU (", threads_->pool.NumThreads(), " threads)");
}

namespace {

// Every buffer is sized from these types: a count that wraps would make a
// kernel write past a short allocation.
absl::Status checkType(const proto::TensorType &t, absl::string_view what) {
  return checkTensorType(t.dtype(), t.shape(), std::string(what));
}

bool sameType(const proto::TensorType &a, const proto::TensorType &b) {
  return a.dtype() == b.dtype() &&
         std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end());
}

std::string stepName(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  return absl::StrCat("entry '", ep.name(), "' step ", i, " (kiln.", s.op(), " at ",
                      s.location().empty() ? "<unknown location>" : s.location(), ")");
}

absl::Status validate(const proto::Executable &exe) {
  if (exe.target() != "host")
    return absl::InvalidArgumentError(absl::StrCat(
        "the Executable targets '", exe.target(), "'; the CPU executor runs only 'host'"));
  absl::flat_hash_map<std::string, const proto::StateEntry *> state;
  for (const proto::StateEntry &s : exe.state()) {
    if (s.name().empty() || !state.emplace(s.name(), &s).second)
      return absl::InvalidArgumentError(
          absl::StrCat("state entry name '", s.name(), "' is empty or repeated"));
    KILN_RETURN_IF_ERROR(checkType(s.type(), absl::StrCat("state entry '", s.name(), "'")));
  }
  absl::flat_hash_set<std::string> entries;
  for (const proto::EntryPoint &ep : exe.entries()) {
    if (!entries.insert(ep.name()).second)
      return absl::InvalidArgumentError(absl::StrCat("entry '", ep.name(), "' is repeated"));
    int nb = ep.buffers_size();
    for (int b = 0; b < nb; ++b)
      KILN_RETURN_IF_ERROR(
          checkType(ep.buffers(b), absl::StrCat("entry '", ep.name(), "' buffer ", b)));
    auto checkStateUse = [&](absl::string_view kind, const std::string &name,
                             const std::string &stateName, int buffer) -> absl::Status {
      if (buffer < 0 || buffer >= nb)
        return absl::InvalidArgumentError(absl::StrCat("entry '", ep.name(), "' ", kind, " '",
                                                       name, "' uses buffer ", buffer,
                                                       " but there are ", nb, " buffers"));
      if (stateName.empty())
        return absl::OkStatus();
      auto it = state.find(stateName);
      if (it == state.end())
        return absl::InvalidArgumentError(absl::StrCat("entry '", ep.name(), "' ", kind, " '",
                                                       name, "' names unknown state entry '",
                                                       stateName, "'"));
      if (!sameType(it->second->type(), ep.buffers(buffer)))
        return absl::InvalidArgumentError(absl::StrCat(
            "entry '", ep.name(), "' ", kind, " '", name, "' has type ",
            typeString(ep.buffers(buffer)), " but state entry '", stateName, "' is ",
            typeString(it->second->type())));
      return absl::OkStatus();
    };
    for (const proto::Argument &a : ep.arguments())
      KILN_RETURN_IF_ERROR(checkStateUse("argument", a.name(), a.state(), a.buffer()));
    for (const proto::Result &r : ep.results()) {
      KILN_RETURN_IF_ERROR(checkStateUse("result", r.name(), r.state(), r.buffer()));
      if (r.aliases_argument() < -1 || r.aliases_argument() >= ep.arguments_size())
        return absl::InvalidArgumentError(absl::StrCat("entry '", ep.name(), "' result '",
                                                       r.name(), "' aliases argument ",
                                                       r.aliases_argument(), " of ",
                                                       ep.arguments_size()));
    }
    for (int i = 0; i < ep.steps_size(); ++i) {
      const proto::Step &s = ep.steps(i);
      if (!findKernel(s.op()))
        return absl::InvalidArgumentError(
            absl::StrCat(stepName(ep, i), ": unknown op 'kiln.", s.op(), "'"));
      for (const auto *ids : {&s.inputs(), &s.outputs(), &s.release()})
        for (int b : *ids)
          if (b < 0 || b >= nb)
            return absl::InvalidArgumentError(absl::StrCat(
                stepName(ep, i), ": buffer id ", b, " is out of range (", nb, " buffers)"));
    }
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<std::unique_ptr<Executor>> Executor::create(proto::Executable exe,
                                                           ExecutorOptions opts) {
  KILN_RETURN_IF_ERROR(validate(exe));
  return std::unique_ptr<Executor>(new Executor(std::move(exe), opts));
}

int Executor::stateIndex(std::string_view name) const {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (exe_.state(i).name() == name)
      return i;
  return -1;
}

absl::Status Executor::materialize(int index) {
  const proto::StateEntry &s = exe_.state(index);
  Eigen::ThreadPoolDevice &dev = threads_->device;
  ParallelFor pf = [&dev](int64_t n, const std::function<void(int64_t, int64_t)> &fn) {
    if (n < 4096) {
      fn(0, n);
      return;
    }
    dev.parallelFor(n, Eigen::TensorOpCost(0, 8, 200),
                    [&fn](Eigen::Index b, Eigen::Index e) { fn(b, e); });
  };
  auto t = initializeTensor(s.type(), s.init(), pf);
  if (!t.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("state entry '", s.name(), "': ", t.status().message()));
  state_[index] = std::move(*t);
  return absl::OkStatus();
}

absl::Status Executor::initializeState() {
  for (int i = 0; i < exe_.state_size(); ++i)
    if (!state_[i] && !exe_.state(i).init().kind().empty())
      KILN_RETURN_IF_ERROR(materialize(i));
  return absl::OkStatus();
}

absl::Status Executor::setState(std::string_view name, HostTensor value) {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (!value.hasType(exe_.state(i).type()))
    return absl::InvalidArgumentError(absl::StrCat("state entry '", std::string(name), "' expects ",
                                                   typeString(exe_.state(i).type()),
                                                   ", given ", value.typeString()));
  state_[i] = std::move(value);
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> Executor::getState(std::string_view name) const {
  int i = stateIndex(name);
  if (i < 0)
    return absl::NotFoundError(absl::StrCat("unknown state entry '", std::string(name), "'"));
  if (!state_[i])
    return absl::FailedPreconditionError(absl::StrCat(
        "state entry '", std::string(name), "' has no value yet (setState or initializeState first)"));
  return *state_[i];
}

std::vector<std::string> Executor::stateNames() const { return stateNamesOf(exe_); }

std::vector<std::string> Executor::entryNames() const { return entryNamesOf(exe_); }

const proto::EntryPoint *Executor::entry(std::string_view name) const {
  return findEntry(exe_, name);
}

absl::StatusOr<std::vector<HostTensor>> Executor::runEntry(const proto::EntryPoint &ep,
                                                           std::vector<HostTensor> callerArgs) {
  int nb = ep.buffers_size();
  std::vector<HostTensor> bufs(nb);
  int64_t live = 0, peak = 0;
  auto place = [&](int b, HostTensor t) {
    if (bufs[b].valid())
      live -= bufs[b].byteSize();
    live += t.byteSize();
    bufs[b] = std::move(t);
  };
  int next = 0;
  for (const proto::Argument &a : ep.arguments()) {
    if (a.state().empty()) {
      place(a.buffer(), std::move(callerArgs[next++]));
      continue;
    }
    int si = stateIndex(a.state());
    if (!state_[si]) {
      if (exe_.state(si).init().kind().empty())
        return absl::FailedPreconditionError(absl::StrCat(
            "entry '", ep.name(), "' argument '", a.name(), "' reads state entry '", a.state(),
            "', which has no value and no initializer"));
      KILN_RETURN_IF_ERROR(materialize(si));
    }
    place(a.buffer(), *state_[si]);
  }
  peak = live;
  absl::flat_hash_set<int> resultBuffers;
  for (const proto::Result &r : ep.results())
    resultBuffers.insert(r.buffer());

  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &step = ep.steps(i);
    std::vector<const HostTensor *> ins;
    for (int b : step.inputs()) {
      if (!bufs[b].valid())
        return absl::FailedPreconditionError(absl::StrCat(
            stepName(ep, i), ": reads buffer ", b, ", which is not written or already released"));
      ins.push_back(&bufs[b]);
    }
    std::vector<HostTensor> outs;
    outs.reserve(step.outputs_size());
    for (int b : step.outputs()) {
      const proto::TensorType &t = ep.buffers(b);
      absl::StatusOr<HostTensor> out = HostTensor::create(
          t.dtype(), std::vector<int64_t>(t.shape().begin(), t.shape().end()),
          absl::StrCat(stepName(ep, i), ": output buffer ", b));
      if (!out.ok())
        return out.status();
      outs.push_back(*std::move(out));
    }
    KernelContext ctx(step, std::move(ins), &outs, &threads_->device);
    ctx.setBatchInvariant(opts_.batchInvariant);
    KILN_RETURN_IF_ERROR(findKernel(step.op())(ctx));
    for (int k = 0; k < step.outputs_size(); ++k) {
      int b = step.outputs(k);
      if (!outs[k].hasType(ep.buffers(b)))
        return absl::InternalError(absl::StrCat(stepName(ep, i), ": kernel produced ",
                                                outs[k].typeString(), " for buffer ", b,
                                                " of type ", typeString(ep.buffers(b))));
      place(b, std::move(outs[k]));
    }
    peak = std::max(peak, live);
    for (int b : step.release()) {
      if (resultBuffers.contains(b) || !bufs[b].valid())
        continue;
      live -= bufs[b].byteSize();
      bufs[b] = HostTensor();
    }
  }
  lastPeakBytes_ = peak;

  std::vector<HostTensor> results;
  for (const proto::Result &r : ep.results())
    if (!bufs[r.buffer()].valid())
      return absl::FailedPreconditionError(absl::StrCat("entry '", ep.name(), "' result '",
                                                        r.name(), "' reads buffer ", r.buffer(),
                                                        ", which no step wrote"));
  // Every step succeeded: only now is state replaced, so a failure leaves it intact.
  for (const proto::Result &r : ep.results()) {
    if (!r.state().empty())
      state_[stateIndex(r.state())] = bufs[r.buffer()]; // shares storage, no copy
    else
      results.push_back(bufs[r.buffer()]);
  }
  return results;
}

absl::StatusOr<std::vector<HostTensor>> Executor::run(std::string_view name,
                                                      const std::vector<HostTensor> &inputs) {
  const proto::EntryPoint *ep = entry(name);
  if (!ep)
    return absl::NotFoundError(absl::StrCat("no entry point '", std::string(name), "'; entries are: ",
                                            absl::StrJoin(entryNames(), ", ")));
  std::vector<const proto::Argument *> fed;
  for (const proto::Argument &a : ep->arguments())
    if (a.state().empty())
      fed.push_back(&a);
  if (inputs.size() != fed.size()) {
    std::vector<std::string> names;
    for (const proto::Argument *a : fed)
      names.push_back(a->name());
    return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name), "' takes ", fed.size(),
                                                   " inputs (", absl::StrJoin(names, ", "),
                                                   "), given ", inputs.size()));
  }
  for (size_t i = 0; i < fed.size(); ++i) {
    const proto::TensorType &t = ep->buffers(fed[i]->buffer());
    if (!inputs[i].hasType(t))
      return absl::InvalidArgumentError(absl::StrCat("entry '", std::string(name), "' argument '",
                                                     fed[i]->name(), "': expected ",
                                                     typeString(t), ", given ",
                                                     inputs[i].typeString()));
  }
  return runEntry(*ep, inputs);
}

absl::StatusOr<std::map<std::string, HostTensor>>
Executor::runNamed(std::string_view name, const std::map<std::string, HostTensor> &inputs) {
  const proto::EntryPoint *ep = entry(name);
  if (!ep)
    return absl::NotFoundError(absl::StrCat("no entry point '", std::string(name), "'; entries are: ",
                                            absl::StrJoin(entryNames(), ", ")));
  std::vector<HostTensor> ordered;
  size_t used = 0;
  for (const proto::Argument &a : ep->arguments()) {
    if (!a.state().empty())
      continue;
    auto it = inputs.find(a.name());
    if (it == inputs.end())
      return absl::InvalidArgumentError(
          absl::StrCat("entry '", std::string(name), "' argument '", a.name(), "' is not given"));
    ordered.push_back(it->second);
    ++used;
  }
  if (used != inputs.size()) {
    for (const auto &[key, value] : inputs) {
      bool known = false;
      for (const proto::Argument &a : ep->arguments())
        known |= a.state().empty() && a.name() == key;
      if (!known)
        return absl::InvalidArgumentError(
            absl::StrCat("entry '", std::string(name), "' has no caller-fed argument '", key, "'"));
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> outs, run(name, ordered));
  std::map<std::string, HostTensor> byName;
  size_t k = 0;
  for (const proto::Result &r : ep->results())
    if (r.state().empty())
      byName[r.name()] = outs[k++];
  return byName;
}

} // namespace kiln
