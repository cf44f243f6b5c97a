//===- PtxDevice.h - one GPU as an executor device --------------*- C++ -*-===//
//
// ptx Executables on one GPU through the CUDA driver API: state resident in
// device buffers at fixed addresses, intermediates in one arena per entry,
// inputs and results through pinned staging, steps as kernel launches, copies
// and cuBLAS calls on one stream, optionally captured into a CUDA graph.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_PTXDEVICE_H
#define KILN_EXECUTOR_CUDA_PTXDEVICE_H

#include <memory>
#include <string>
#include <vector>

#include "executor/Device.h"
#include "executor/cuda/CudaApi.h"
#include "executor/cuda/CudaDevice.h"
#include "executor/cuda/CudaExecutor.h"

namespace kiln::cuda {

class CudaModule;

class PtxDevice final : public Device {
public:
  /// Opens the device, JIT-loads every PTX module of `exe` (which must outlive
  /// the device and be validated), resolves every kernel and uploads every
  /// "constant" step.
  static absl::StatusOr<std::unique_ptr<PtxDevice>>
  open(const proto::Executable &exe, const CudaExecutorOptions &opts);
  ~PtxDevice() override;

  /// "CUDA device 0 (NVIDIA H200, sm_90)".
  std::string describe() const override { return device_->describe(); }
  /// A kernel fault makes the CUDA context unusable: every later call returns
  /// that error.
  absl::Status ready() override;

  absl::StatusOr<std::unique_ptr<DeviceState>>
  allocate(const proto::TensorType &type, absl::string_view what) override;
  /// Into the resident buffer, whose address stays fixed.
  absl::Status copyIn(DeviceState &state, HostTensor value,
                      absl::string_view what) override;
  absl::StatusOr<HostTensor> copyOut(const DeviceState &state,
                                     const proto::TensorType &type,
                                     absl::string_view what) override;

  /// Uploads the inputs and queues the steps (or replays the entry's graph)
  /// and the downloads of the results; donated results move into state
  /// device-to-device on the same stream (in place where the kernel wrote the
  /// state's own bytes), nothing goes through the host.
  absl::StatusOr<std::unique_ptr<EntryRun>>
  launch(const EntryCall &call) override;
  /// Device bytes the last run used: its arena plus its argument buffers.
  int64_t lastPeakBytes() const override { return lastPeakBytes_; }

  /// Device milliseconds per launch of entry `entryIndex`'s kernels (or graph
  /// replay), `iterations` back to back between two CUDA events; the entry
  /// must have run once.
  absl::StatusOr<double> timeEntry(int entryIndex, int iterations);

private:
  struct EntryRuntime;
  struct CublasProvider;
  class Run;
  PtxDevice() = default;
  absl::Status prepare(EntryRuntime &rt, const EntryCall &call);
  absl::Status enqueueSteps(EntryRuntime &rt,
                            std::vector<std::string> *launched);
  /// A step of the communicator: all_gather, all_to_all, send or recv.
  absl::Status enqueueCollective(EntryRuntime &rt, int step);
  absl::Status enqueueGemm(const proto::EntryPoint &ep, int step,
                           const std::vector<CUdeviceptr> &ptr);
  absl::Status syncOrExplain(const EntryRuntime &rt,
                             const std::vector<std::string> &launched);
  /// After a launch, any failing call may be reporting a kernel's
  /// asynchronous fault: synchronise so the error names the kernels rather
  /// than the innocent copy.
  absl::Status afterLaunches(const EntryRuntime &rt,
                             const std::vector<std::string> &launched,
                             absl::Status status);

  CudaExecutorOptions opts_;
  std::shared_ptr<CudaDevice> device_;
  CudaStream stream_;
  std::unique_ptr<CublasProvider> cublas_; // only when a step asks for it
  std::shared_ptr<Communicator> comm_;     // NCCL, or a world of one GPU
  DeviceBuffer flags_;                     // all_to_all's agreement bytes
  std::vector<std::unique_ptr<CudaModule>> modules_;
  std::vector<EntryRuntime> entries_; // parallel to Executable.entries
  absl::Status poisoned_;             // set once a kernel faulted
  bool capturing_ = false;            // inside CudaGraph::capture
  int64_t lastPeakBytes_ = 0;
};

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_PTXDEVICE_H
