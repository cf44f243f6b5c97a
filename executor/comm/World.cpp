//===- World.cpp - the host ranks this process belongs to -----------------===//

#include "executor/comm/World.h"

#include "absl/strings/str_cat.h"

#ifdef KILN_HAVE_MPI
#include "executor/comm/MpiCommunicator.h"
#endif

namespace kiln {

bool mpiAvailable() {
#ifdef KILN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::shared_ptr<Communicator>>
joinHostWorld(const WorldOptions &options) {
  absl::StatusOr<double> timeout = collectiveTimeout(options);
  if (!timeout.ok())
    return timeout.status();
  switch (detectLauncher()) {
  case Launcher::Single:
    return singleProcessCommunicator();
  case Launcher::Env:
    return absl::FailedPreconditionError(
        "this process was started with WORLD_SIZE > 1 (torchrun or the "
        "environment rendezvous), which connects GPUs through NCCL; host "
        "(CPU) ranks talk through MPI: start them with mpirun -np N");
  case Launcher::Mpi:
#ifdef KILN_HAVE_MPI
  {
    MpiOptions mpi;
    mpi.timeoutSeconds = *timeout;
    return createMpiCommunicator(mpi);
  }
#else
    return absl::FailedPreconditionError(
        "this process was started by mpirun, but this build of Kiln has no "
        "MPI (install libopenmpi-dev and rebuild; `make build` does)");
#endif
  }
  return absl::InternalError("unknown launcher");
}

} // namespace kiln
