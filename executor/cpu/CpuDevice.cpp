//===- CpuDevice.cpp - the Eigen kernels as an executor device ------------===//

#define EIGEN_USE_THREADS
#include "executor/cpu/CpuDevice.h"

#include <algorithm>
#include <deque>
#include <future>
#include <thread>

#include <unsupported/Eigen/CXX11/Tensor>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "executor/cpu/CollectiveThread.h"
#include "executor/cpu/Kernel.h"

namespace kiln {

namespace {

std::string stepName(const proto::EntryPoint &ep, int i) {
  const proto::Step &s = ep.steps(i);
  return absl::StrCat(
      "entry '", ep.name(), "' step ", i, " (kiln.", s.op(), " at ",
      s.location().empty() ? "<unknown location>" : s.location(), ")");
}

/// One step's operands as its kernel reads them (i4 unpacked), and its
/// outputs. Shared with the collective thread while a collective runs.
struct StepOperands {
  std::vector<HostTensor> ins, outs;
};

/// A state entry's value on the CPU.
struct HostState final : DeviceState {
  HostTensor value;
};

HostState &hostState(DeviceState &s) { return static_cast<HostState &>(s); }

/// The buffers of one finished run: results are read from them, donated ones
/// by sharing storage.
class HostRun final : public EntryRun {
public:
  HostRun(const proto::EntryPoint &ep, std::vector<HostTensor> buffers)
      : ep_(ep), buffers_(std::move(buffers)) {}

  absl::Status writeBack(int result,
                         std::unique_ptr<DeviceState> &slot) override {
    if (!slot)
      slot = std::make_unique<HostState>();
    hostState(*slot).value = buffers_[ep_.results(result).buffer()];
    return absl::OkStatus();
  }
  absl::Status synchronize() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<HostTensor>> takeResults() override {
    std::vector<HostTensor> results;
    for (const proto::Result &r : ep_.results())
      if (r.state().empty())
        results.push_back(buffers_[r.buffer()]);
    return results;
  }

private:
  const proto::EntryPoint &ep_;
  std::vector<HostTensor> buffers_;
};

} // namespace

ExecutableRules cpuExecutableRules() {
  ExecutableRules rules;
  rules.target = "host";
  rules.executorName = "the CPU executor";
  rules.describeStep = stepName;
  rules.checkStep = [](const proto::Executable &, const proto::EntryPoint &ep,
                       int i) -> absl::Status {
    const proto::Step &s = ep.steps(i);
    if (!findKernel(s.op()))
      return absl::InvalidArgumentError(
          absl::StrCat(stepName(ep, i), ": unknown op 'kiln.", s.op(), "'"));
    return absl::OkStatus();
  };
  return rules;
}

struct CpuDevice::Threads {
  explicit Threads(int n) : pool(n), device(&pool, n) {}
  Eigen::ThreadPool pool;
  Eigen::ThreadPoolDevice device;
};

CpuDevice::CpuDevice(int numThreads, bool batchInvariant,
                     std::shared_ptr<Communicator> communicator,
                     bool overlapCollectives)
    : batchInvariant_(batchInvariant),
      communicator_(communicator ? std::move(communicator)
                                 : singleProcessCommunicator()) {
  if (overlapCollectives)
    collectiveThread_ = std::make_unique<CollectiveThread>();
  int n =
      numThreads > 0
          ? numThreads
          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = std::make_unique<Threads>(n);
}

CpuDevice::~CpuDevice() = default;

std::string CpuDevice::describe() const {
  std::string device =
      absl::StrCat("CPU (", threads_->pool.NumThreads(), " threads)");
  if (communicator_->size() > 1)
    absl::StrAppend(&device, ", ", communicator_->describe());
  return device;
}

ParallelFor CpuDevice::hostParallelFor() const {
  Eigen::ThreadPoolDevice *dev = &threads_->device;
  return [dev](int64_t n, const std::function<void(int64_t, int64_t)> &fn) {
    if (n < 4096) {
      fn(0, n);
      return;
    }
    dev->parallelFor(n, Eigen::TensorOpCost(0, 8, 200),
                     [&fn](Eigen::Index b, Eigen::Index e) { fn(b, e); });
  };
}

absl::StatusOr<std::unique_ptr<DeviceState>>
CpuDevice::allocate(const proto::TensorType &, absl::string_view) {
  return std::make_unique<HostState>();
}

absl::Status CpuDevice::copyIn(DeviceState &state, HostTensor value,
                               absl::string_view) {
  hostState(state).value = std::move(value);
  return absl::OkStatus();
}

absl::StatusOr<HostTensor> CpuDevice::copyOut(const DeviceState &state,
                                              const proto::TensorType &,
                                              absl::string_view) {
  return static_cast<const HostState &>(state).value;
}

absl::StatusOr<std::unique_ptr<EntryRun>>
CpuDevice::launch(const EntryCall &call) {
  const proto::EntryPoint &ep = *call.entry;
  int nb = ep.buffers_size();
  std::vector<HostTensor> bufs(nb);
  int64_t live = 0, peak = 0;
  auto place = [&](int b, HostTensor t) {
    if (bufs[b].valid())
      live -= bufs[b].byteSize();
    live += t.byteSize();
    bufs[b] = std::move(t);
  };
  size_t next = 0;
  for (int k = 0; k < ep.arguments_size(); ++k) {
    int b = ep.arguments(k).buffer();
    if (DeviceState *s = call.argumentState[k])
      place(b, hostState(*s).value);
    else
      place(b, (*call.inputs)[next++]);
  }
  peak = live;
  absl::flat_hash_set<int> resultBuffers;
  for (const proto::Result &r : ep.results())
    resultBuffers.insert(r.buffer());

  // Kernels compute on i4 unpacked, one element per byte; buffers hold it
  // packed (HostTensor.h). A step converts at its edges, so every kernel is
  // written once, for bytes.
  constexpr auto kUnpacked = HostTensor::Layout::Unpacked;
  // Collective steps in flight on the collective thread: their outputs are
  // placed when a step reads one, a buffer is released, or the entry ends.
  struct Pending {
    int step;
    std::shared_ptr<StepOperands> operands;
    std::future<absl::Status> done;
  };
  std::deque<Pending> inFlight;
  absl::flat_hash_map<int, size_t> pendingOf; // buffer -> index in inFlight
  size_t retired = 0; // inFlight entries before this one are placed
  // A finished step's outputs, checked against their buffers and packed.
  auto placeOutputs = [&](int i, StepOperands &operands) -> absl::Status {
    const proto::Step &step = ep.steps(i);
    for (int k = 0; k < step.outputs_size(); ++k) {
      int b = step.outputs(k);
      const HostTensor &out = operands.outs[k];
      if (!out.hasType(ep.buffers(b)))
        return absl::InternalError(absl::StrCat(
            stepName(ep, i), ": kernel produced ", out.typeString(),
            " for buffer ", b, " of type ", typeString(ep.buffers(b))));
      place(b, out.withLayout(HostTensor::Layout::Packed));
    }
    peak = std::max(peak, live);
    return absl::OkStatus();
  };
  // Waits for the collectives up to inFlight[upTo] and places their outputs.
  auto finish = [&](size_t upTo) -> absl::Status {
    absl::Status first = absl::OkStatus();
    for (; retired <= upTo && retired < inFlight.size(); ++retired) {
      Pending &p = inFlight[retired];
      for (int b : ep.steps(p.step).outputs())
        pendingOf.erase(b);
      absl::Status s = p.done.get();
      if (s.ok())
        s = placeOutputs(p.step, *p.operands);
      if (first.ok())
        first = s;
    }
    return first;
  };
  // Every queued collective finishes before the run returns, error or not.
  auto drain = [&]() { return finish(inFlight.size()); };
  absl::Cleanup drainOnExit = [&] { (void)drain(); };
  int64_t overlapped = 0;

  for (int i = 0; i < ep.steps_size(); ++i) {
    const proto::Step &step = ep.steps(i);
    for (int b : step.inputs())
      if (auto it = pendingOf.find(b); it != pendingOf.end())
        KILN_RETURN_IF_ERROR(finish(it->second));
    auto operands = std::make_shared<StepOperands>();
    for (int b : step.inputs()) {
      if (!bufs[b].valid())
        return absl::FailedPreconditionError(
            absl::StrCat(stepName(ep, i), ": reads buffer ", b,
                         ", which is not written or already released"));
      operands->ins.push_back(
          bufs[b].isSubByte() ? bufs[b].withLayout(kUnpacked) : bufs[b]);
    }
    for (int b : step.outputs()) {
      const proto::TensorType &t = ep.buffers(b);
      absl::StatusOr<HostTensor> out = HostTensor::create(
          t.dtype(), std::vector<int64_t>(t.shape().begin(), t.shape().end()),
          absl::StrCat(stepName(ep, i), ": output buffer ", b));
      if (!out.ok())
        return out.status();
      operands->outs.push_back(out->withLayout(kUnpacked));
    }
    auto run = [this, &step, operands]() -> absl::Status {
      std::vector<const HostTensor *> ins;
      for (const HostTensor &t : operands->ins)
        ins.push_back(&t);
      KernelContext ctx(step, std::move(ins), &operands->outs,
                        &threads_->device);
      ctx.setBatchInvariant(batchInvariant_);
      ctx.setCommunicator(communicator_.get());
      return findKernel(step.op())(ctx);
    };
    if (collectiveThread_ && isCollectiveKernel(step.op())) {
      for (int b : step.outputs())
        pendingOf[b] = inFlight.size();
      inFlight.push_back({i, operands, collectiveThread_->submit(run)});
    } else {
      if (retired < inFlight.size())
        ++overlapped;
      KILN_RETURN_IF_ERROR(run());
      KILN_RETURN_IF_ERROR(placeOutputs(i, *operands));
    }
    for (int b : step.release()) {
      if (auto it = pendingOf.find(b); it != pendingOf.end())
        KILN_RETURN_IF_ERROR(finish(it->second));
      if (resultBuffers.contains(b) || !bufs[b].valid())
        continue;
      live -= bufs[b].byteSize();
      bufs[b] = HostTensor();
    }
  }
  KILN_RETURN_IF_ERROR(drain());
  lastOverlappedSteps_ = overlapped;
  lastPeakBytes_ = peak;

  for (const proto::Result &r : ep.results())
    if (!bufs[r.buffer()].valid())
      return absl::FailedPreconditionError(
          absl::StrCat("entry '", ep.name(), "' result '", r.name(),
                       "' reads buffer ", r.buffer(), ", which no step wrote"));
  return std::make_unique<HostRun>(ep, std::move(bufs));
}

} // namespace kiln
