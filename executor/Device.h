//===- Device.h - what the executor core asks of a device -------*- C++ -*-===//
//
// The split IREE's HAL draws: the executor core (ExecutorCore.h) owns the
// Executable, the state table, argument binding and validation; a device owns
// memory and runs an entry's steps. The CPU (executor/cpu/CpuDevice.h) and CUDA
// (executor/cuda/PtxDevice.h) devices implement it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_DEVICE_H
#define KILN_EXECUTOR_DEVICE_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "executor/HostTensor.h"
#include "executor/StateInit.h"
#include "executor/executable.pb.h"

namespace kiln {

/// One state entry's value, resident on the device that allocated it.
class DeviceState {
public:
  virtual ~DeviceState() = default;
};

/// One run of one entry point, bound by the core: which state each argument
/// reads and which state slot each result writes.
struct EntryCall {
  int entryIndex = -1; ///< into Executable.entries
  const proto::EntryPoint *entry = nullptr;
  /// The caller-fed arguments, in order, checked against the entry.
  const std::vector<HostTensor> *inputs = nullptr;
  /// Per argument: the state it reads (present), or null for a caller input.
  std::vector<DeviceState *> argumentState;
  /// Per result: the slot of the state it writes, or null. A slot may still be
  /// empty (state written before it is ever read); the device fills it.
  std::vector<std::unique_ptr<DeviceState> *> resultState;
  /// Per result: whether the caller wants it on the host (empty: every
  /// one). A device may skip copying the others; takeResults gives an empty
  /// HostTensor in their place.
  std::vector<bool> wanted;
};

/// An entry whose steps a device has run or queued. The core writes donated
/// state back through it once every step was issued without error, then
/// waits for it, then takes the results.
class EntryRun {
public:
  virtual ~EntryRun() = default;
  /// Moves result `result` (an index into the entry's results) into `slot`.
  virtual absl::Status writeBack(int result,
                                 std::unique_ptr<DeviceState> &slot) = 0;
  /// Waits until everything this run queued has finished.
  virtual absl::Status synchronize() = 0;
  /// The results not written to state, in order, on the host.
  virtual absl::StatusOr<std::vector<HostTensor>> takeResults() = 0;
};

class Device {
public:
  virtual ~Device() = default;

  /// "CPU (8 threads)", "CUDA device 0 (NVIDIA H200, sm_90)".
  virtual std::string describe() const = 0;
  /// OK while the device can run; the error that stopped it otherwise (a CUDA
  /// kernel fault is sticky). Binds the device to the calling thread.
  virtual absl::Status ready() = 0;
  /// Runs state initialisers on the host; devices with a thread pool share it.
  virtual ParallelFor hostParallelFor() const;

  // Memory. `what` says what the bytes are for, in errors.
  virtual absl::StatusOr<std::unique_ptr<DeviceState>>
  allocate(const proto::TensorType &type, absl::string_view what) = 0;
  /// `value` has the state's type; the device may keep its storage.
  virtual absl::Status copyIn(DeviceState &state, HostTensor value,
                              absl::string_view what) = 0;
  virtual absl::StatusOr<HostTensor> copyOut(const DeviceState &state,
                                             const proto::TensorType &type,
                                             absl::string_view what) = 0;

  // Execution.
  /// Binds `call`'s buffers and runs (or queues) the entry's steps.
  virtual absl::StatusOr<std::unique_ptr<EntryRun>>
  launch(const EntryCall &call) = 0;
  /// Peak bytes of the last run, as this device measures them.
  virtual int64_t lastPeakBytes() const = 0;
  /// Steps of the last run that ran while a collective was in flight (0
  /// where collectives block the steps after them).
  virtual int64_t lastOverlappedSteps() const { return 0; }

  // Collectives (issue 14): `communicate`, the device's side of all_reduce,
  // all_gather, reduce_scatter, all_to_all and send/recv steps, is declared
  // here when the collective steps exist, so that MPI and NCCL sit behind
  // this one interface as memory and launches do.
};

} // namespace kiln

#endif // KILN_EXECUTOR_DEVICE_H
