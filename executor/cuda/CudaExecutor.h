// The CUDA executor: runs "ptx" Executables on one GPU with the CPU Executor's API.
// Named state stays resident on the device; intermediates live in one arena per entry.
#ifndef KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H
#define KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "executor/HostTensor.h"
#include "executor/cuda/CudaApi.h"
#include "executor/executable.pb.h"

namespace kiln {

namespace cuda {
class CudaDevice;
class DeviceBuffer;
} // namespace cuda

struct CudaExecutorOptions {
  int deviceOrdinal = 0;
  /// Capture each entry point's launches into a CUDA graph on its first run and replay
  /// the graph afterwards (inputs are first copied into fixed device buffers).
  bool useCudaGraph = false;
  /// Synchronise after every launch so a faulting kernel is named exactly (slow; for
  /// debugging). Without it a fault names every kernel of the run since the last sync.
  bool syncAfterEachLaunch = false;
};

class CudaExecutor final : public EntryRunner {
public:
  /// Validates the Executable (target "ptx", buffer ids, arena offsets, step ops),
  /// opens the device, JIT-loads every PTX module, resolves every kernel and uploads
  /// every "constant" step. Without a GPU the error says "no CUDA driver ..." or "no
  /// CUDA device ...".
  static absl::StatusOr<std::unique_ptr<CudaExecutor>> create(proto::Executable exe,
                                                              CudaExecutorOptions opts = {});
  ~CudaExecutor() override;

  /// Initialises on the host with the CPU executor's StateInit code, then uploads, so
  /// both executors start from identical values.
  absl::Status initializeState() override;
  absl::Status setState(std::string_view name, HostTensor value) override;
  /// Downloads the resident value.
  absl::StatusOr<HostTensor> getState(std::string_view name) const override;
  std::vector<std::string> stateNames() const override;
  std::vector<std::string> entryNames() const override;
  const proto::EntryPoint *entry(std::string_view name) const override;

  /// Same contract as Executor::run. Results written back to state replace the
  /// resident buffer on the device (in place where the kernel wrote the argument's
  /// bytes, otherwise a device-to-device copy); nothing goes through the host.
  /// A kernel fault makes the CUDA context unusable: that run and every later call
  /// return the error.
  absl::StatusOr<std::vector<HostTensor>> run(std::string_view entry,
                                              const std::vector<HostTensor> &inputs) override;
  absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry, const std::map<std::string, HostTensor> &inputs) override;

  /// Device milliseconds per run of `entry`, for benchmarks: one ordinary run
  /// (which uploads `inputs` and, with useCudaGraph, captures the graph), then
  /// `iterations` back-to-back launches of the entry's kernels (or graph
  /// replays) between two CUDA events. Host transfers are not timed; state an
  /// entry donates is updated by every iteration, as repeated calls would.
  absl::StatusOr<double> timeEntry(std::string_view entry, const std::vector<HostTensor> &inputs,
                                   int iterations);

  /// Device bytes the last run used: its arena plus its argument buffers.
  int64_t lastPeakBytes() const override { return lastPeakBytes_; }
  /// "CUDA device 0 (NVIDIA H200, sm_90)".
  std::string deviceDescription() const override;
  const proto::Executable &executable() const override { return exe_; }

private:
  struct Impl;
  struct EntryRuntime;
  CudaExecutor(proto::Executable exe, CudaExecutorOptions opts);
  int stateIndex(std::string_view name) const;
  absl::Status materialize(int index);
  absl::Status uploadState(int index, const HostTensor &value);
  absl::Status prepare(EntryRuntime &rt);
  absl::Status enqueueSteps(EntryRuntime &rt, std::vector<std::string> *launched);
  absl::Status enqueueGemm(const proto::EntryPoint &ep, int step,
                           const std::vector<cuda::CUdeviceptr> &ptr);
  absl::Status syncOrExplain(const EntryRuntime &rt, const std::vector<std::string> &launched);
  absl::StatusOr<std::vector<HostTensor>> runEntry(EntryRuntime &rt,
                                                   const std::vector<HostTensor> &inputs);

  proto::Executable exe_;
  CudaExecutorOptions opts_;
  std::unique_ptr<Impl> impl_;
  int64_t lastPeakBytes_ = 0;
};

} // namespace kiln

#endif // KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H
