// The CUDA executor: runs "ptx" Executables on one GPU with the CPU Executor's
// API (the executor core of ExecutorCore.h over the PtxDevice). Named state
// stays resident on the device; intermediates live in one arena per entry.
#ifndef KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H
#define KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/ExecutorCore.h"
#include "executor/comm/Communicator.h"
#include "executor/HostTensor.h"
#include "executor/executable.pb.h"

namespace kiln {

namespace cuda {
class PtxDevice;
} // namespace cuda

struct CudaExecutorOptions {
  int deviceOrdinal = 0;
  /// Capture each entry point's launches into a CUDA graph on its first run and
  /// replay the graph afterwards (inputs are first copied into fixed device
  /// buffers).
  bool useCudaGraph = false;
  /// Synchronise after every launch so a faulting kernel is named exactly
  /// (slow; for debugging). Without it a fault names every kernel of the run
  /// since the last sync.
  bool syncAfterEachLaunch = false;
  /// The ranks the collective steps talk to (NCCL, from
  /// cuda::joinDeviceWorld, on deviceOrdinal's GPU); null runs them in a
  /// single process. Entries with collectives are never captured into CUDA
  /// graphs: all_to_all reads its counts on the host.
  std::shared_ptr<Communicator> communicator;
};

/// State is initialised on the host with the CPU executor's StateInit code,
/// then uploaded, so both executors start from identical values; getState
/// downloads the resident value. A run's results written back to state replace
/// the resident buffer on the device (in place where the kernel wrote the
/// argument's bytes, otherwise a device-to-device copy); nothing goes through
/// the host. A kernel fault makes the CUDA context unusable: that run and every
/// later call return the error.
class CudaExecutor final : public ExecutorCore {
public:
  /// Validates the Executable (target "ptx", buffer ids, arena offsets, step
  /// ops), opens the device, JIT-loads every PTX module, resolves every kernel
  /// and uploads every "constant" step. Without a GPU the error says "no CUDA
  /// driver ..." or "no CUDA device ...".
  static absl::StatusOr<std::unique_ptr<CudaExecutor>>
  create(proto::Executable exe, CudaExecutorOptions opts = {});
  ~CudaExecutor() override;

  /// Device milliseconds per run of `entry`, for benchmarks: one ordinary run
  /// (which uploads `inputs` and, with useCudaGraph, captures the graph), then
  /// `iterations` back-to-back launches of the entry's kernels (or graph
  /// replays) between two CUDA events. Host transfers are not timed; state an
  /// entry donates is updated by every iteration, as repeated calls would.
  absl::StatusOr<double> timeEntry(std::string_view entry,
                                   const std::vector<HostTensor> &inputs,
                                   int iterations);

private:
  explicit CudaExecutor(proto::Executable exe);

  cuda::PtxDevice *ptx_ = nullptr; // owned by the core
};

} // namespace kiln

#endif // KILN_EXECUTOR_CUDA_CUDAEXECUTOR_H
