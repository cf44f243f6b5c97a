//===- TrainDevice.cpp - the executor kiln-train runs its entries on
//-------===//

#include "models/train/TrainDevice.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/CudaDevice.h"
#include "executor/cuda/CudaExecutor.h"
#include "executor/cuda/HostStagedCommunicator.h"
#include "executor/cuda/NcclCommunicator.h"

namespace kiln::train {
namespace {

/// The driver says "no CUDA driver (libcuda.so.1 not found)" on a machine
/// without one; a user who asked for --device=cuda needs to read that there is
/// no CUDA device to train on, whichever layer noticed.
absl::Status noCudaDevice(const absl::Status &s) {
  std::string why(s.message());
  return absl::Status(
      s.code(),
      absl::StartsWith(why, "no CUDA device")
          ? absl::StrCat("device \"cuda\": ", why)
          : absl::StrCat("device \"cuda\": no CUDA device (", why, ")"));
}

} // namespace

absl::StatusOr<std::string> targetForDevice(const std::string &device) {
  if (device == "cpu")
    return std::string("host");
  if (device == "cuda")
    return std::string("ptx");
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown device \"", device, "\"; expected one of: cpu, cuda"));
}

absl::Status checkDevice(const std::string &device) {
  KILN_RETURN_IF_ERROR(targetForDevice(device).status());
  if (device != "cuda")
    return absl::OkStatus();
  auto opened = cuda::CudaDevice::open(0);
  if (!opened.ok())
    return noCudaDevice(opened.status());
  return absl::OkStatus();
}

absl::StatusOr<TrainWorld>
joinTrainWorld(const std::string &device,
               std::shared_ptr<Communicator> mpiWorld) {
  KILN_RETURN_IF_ERROR(targetForDevice(device).status());
  TrainWorld world;
  if (device == "cpu") {
    world.host = mpiWorld ? mpiWorld : singleProcessCommunicator();
    world.device = world.host;
    return world;
  }
  KILN_RETURN_IF_ERROR(checkDevice(device));
  absl::StatusOr<cuda::DeviceWorld> joined =
      cuda::joinDeviceWorld(0, {}, mpiWorld);
  if (!joined.ok())
    return absl::Status(
        joined.status().code(),
        absl::StrCat("device \"cuda\": ", joined.status().message()));
  world.deviceOrdinal = joined->device->ordinal();
  world.device = joined->communicator;
  if (mpiWorld && mpiWorld->size() > 1)
    world.host = mpiWorld;
  else if (joined->nccl)
    world.host = std::make_shared<cuda::HostStagedCommunicator>(joined->device,
                                                                joined->nccl);
  else
    world.host = singleProcessCommunicator();
  return world;
}

absl::StatusOr<std::unique_ptr<EntryRunner>>
openExecutor(const std::string &device, proto::Executable exe,
             std::shared_ptr<Communicator> communicator, int numThreads,
             int deviceOrdinal) {
  KILN_ASSIGN_OR_RETURN(std::string target, targetForDevice(device));
  if (exe.target() != target)
    return absl::InvalidArgumentError(
        absl::StrCat("device \"", device, "\" runs '", target,
                     "' Executables, given a '", exe.target(), "' one"));
  std::unique_ptr<EntryRunner> runner;
  if (device == "cpu") {
    ExecutorOptions options;
    options.numThreads = numThreads;
    options.communicator = std::move(communicator);
    KILN_ASSIGN_OR_RETURN(runner, Executor::create(std::move(exe), options));
  } else {
    CudaExecutorOptions options;
    options.deviceOrdinal = deviceOrdinal;
    options.communicator = std::move(communicator);
    KILN_RETURN_IF_ERROR(checkDevice(device));
    KILN_ASSIGN_OR_RETURN(
        runner, CudaExecutor::create(std::move(exe), std::move(options)));
  }
  KILN_RETURN_IF_ERROR(runner->initializeState());
  return runner;
}

} // namespace kiln::train
