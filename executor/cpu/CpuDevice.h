//===- CpuDevice.h - the Eigen kernels as an executor device ----*- C++ -*-===//
//
// Host Executables on the CPU: state and intermediates are HostTensors (a
// donated result takes over its state entry's storage, no copy), steps run
// the Eigen kernels of executor/cpu/ on a thread pool one after another,
// except collectives, which run in order on their own thread while the steps
// that do not read their results go on (CollectiveThread.h).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CPU_CPUDEVICE_H
#define KILN_EXECUTOR_CPU_CPUDEVICE_H

#include <memory>

#include "executor/Device.h"
#include "executor/ExecutableValidation.h"
#include "executor/comm/Communicator.h"

namespace kiln {

class CollectiveThread;

/// What the CPU executor adds to the shared checks: target "host", and every
/// step's op has a kernel.
ExecutableRules cpuExecutableRules();

class CpuDevice final : public Device {
public:
  /// numThreads <= 0 means hardware concurrency; batchInvariant is
  /// ExecutorOptions::batchInvariant; the collective steps talk through
  /// `communicator` (a single process when null), overlapped with the other
  /// steps unless `overlapCollectives` is false.
  explicit CpuDevice(int numThreads, bool batchInvariant = false,
                     std::shared_ptr<Communicator> communicator = nullptr,
                     bool overlapCollectives = true);
  ~CpuDevice() override;

  /// "CPU (N threads)", with the rank when there are several.
  std::string describe() const override;
  absl::Status ready() override { return absl::OkStatus(); }
  ParallelFor hostParallelFor() const override;

  /// The storage comes with the value copyIn hands over, so nothing is
  /// allocated here.
  absl::StatusOr<std::unique_ptr<DeviceState>>
  allocate(const proto::TensorType &type, absl::string_view what) override;
  /// Shares `value`'s storage.
  absl::Status copyIn(DeviceState &state, HostTensor value,
                      absl::string_view what) override;
  /// Shares the state's storage (buffers are immutable once written).
  absl::StatusOr<HostTensor> copyOut(const DeviceState &state,
                                     const proto::TensorType &type,
                                     absl::string_view what) override;

  /// Runs every step before returning; intermediates are freed under
  /// Step.release.
  absl::StatusOr<std::unique_ptr<EntryRun>>
  launch(const EntryCall &call) override;
  /// Peak live bytes of the last run, measured under Step.release.
  int64_t lastPeakBytes() const override { return lastPeakBytes_; }
  int64_t lastOverlappedSteps() const override { return lastOverlappedSteps_; }

private:
  struct Threads;
  std::unique_ptr<Threads> threads_;
  bool batchInvariant_;
  std::shared_ptr<Communicator> communicator_;
  std::unique_ptr<CollectiveThread> collectiveThread_;
  int64_t lastPeakBytes_ = 0;
  int64_t lastOverlappedSteps_ = 0;
};

} // namespace kiln

#endif // KILN_EXECUTOR_CPU_CPUDEVICE_H
