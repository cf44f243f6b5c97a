//===- TrainDevice.h - the executor kiln-train runs its entries on -*- C++ -*-===//
//
// Maps TrainConfig.device to a compile target and an executor: "cpu" runs host
// Executables on the Eigen CPU executor, "cuda" runs ptx Executables on CUDA
// device 0 (choose another with CUDA_VISIBLE_DEVICES). The trainer sees only
// the EntryRunner either way.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_TRAINDEVICE_H
#define KILN_MODELS_TRAIN_TRAINDEVICE_H

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "executor/comm/Communicator.h"
#include "executor/executable.pb.h"

namespace kiln::train {

/// "cpu" -> "host", "cuda" -> "ptx"; anything else is an error naming the value.
absl::StatusOr<std::string> targetForDevice(const std::string &device);

/// Fails early (before minutes of compiling) when `device` cannot run here. For
/// "cuda" without a usable GPU the message contains "no CUDA device".
absl::Status checkDevice(const std::string &device);

/// The executor of `exe` on `device`, its state initialised from the
/// Executable's initializers (identical values on either device). The CPU
/// executor's collectives talk through `communicator` (null: a single
/// process) on `numThreads` threads (0: every core).
absl::StatusOr<std::unique_ptr<EntryRunner>>
openExecutor(const std::string &device, proto::Executable exe,
             std::shared_ptr<Communicator> communicator = nullptr,
             int numThreads = 0);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_TRAINDEVICE_H
