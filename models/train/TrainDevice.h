//===- TrainDevice.h - the executor kiln-train runs its entries on -*- C++
//-*-===//
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

/// "cpu" -> "host", "cuda" -> "ptx"; anything else is an error naming the
/// value.
absl::StatusOr<std::string> targetForDevice(const std::string &device);

/// Fails early (before minutes of compiling) when `device` cannot run here. For
/// "cuda" without a usable GPU the message contains "no CUDA device".
absl::Status checkDevice(const std::string &device);

/// The ranks kiln-train trains with, and how each side reaches them.
struct TrainWorld {
  /// The training loop's host exchanges (metrics checked to agree, rewards
  /// gathered for whole-group advantages, state compared at checkpoints).
  std::shared_ptr<Communicator> host;
  /// The executor's collectives: `host` itself on the CPU, NCCL on GPUs.
  std::shared_ptr<Communicator> device;
  /// The GPU this rank runs on: its rank on the node.
  int deviceOrdinal = 0;
};

/// Joins the world this process was started into, for `device`. On "cpu":
/// `mpiWorld` (MPI under mpirun) or one process. On "cuda": NCCL between GPU
/// ranks started by mpirun (`mpiWorld` carries NCCL's id and the host
/// exchanges) or by torchrun's variables (the environment rendezvous carries
/// the id; host exchanges are staged through the GPU), or one process.
/// `mpiWorld` is null where the binary links no MPI or no launcher ran.
absl::StatusOr<TrainWorld>
joinTrainWorld(const std::string &device,
               std::shared_ptr<Communicator> mpiWorld = nullptr);

/// The executor of `exe` on `device`, its state initialised from the
/// Executable's initializers (identical values on either device). Its
/// collectives talk through `communicator` (null: a single process); the CPU
/// executor runs on `numThreads` threads (0: every core), the CUDA one on
/// GPU `deviceOrdinal`.
absl::StatusOr<std::unique_ptr<EntryRunner>>
openExecutor(const std::string &device, proto::Executable exe,
             std::shared_ptr<Communicator> communicator = nullptr,
             int numThreads = 0, int deviceOrdinal = 0);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_TRAINDEVICE_H
