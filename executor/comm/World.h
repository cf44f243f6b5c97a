//===- World.h - the host ranks this process belongs to ---------*- C++ -*-===//
//
// The communicator of the host (CPU) collectives: MPI when mpirun started the
// process, a single process when nothing did. Built with MPI where the build
// finds it (KilnWorld); the GPU's world is executor/cuda/NcclCommunicator.h.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_WORLD_H
#define KILN_EXECUTOR_COMM_WORLD_H

#include <memory>

#include "absl/status/statusor.h"
#include "executor/comm/Communicator.h"
#include "executor/comm/Launcher.h"

namespace kiln {

/// MPI when an MPI launcher started this process, a single process when
/// nothing did. The environment rendezvous carries the GPU path (NCCL); host
/// ranks started that way are refused with a message saying to use mpirun,
/// as is mpirun in a build without MPI.
absl::StatusOr<std::shared_ptr<Communicator>>
joinHostWorld(const WorldOptions &options = {});

/// True when this build links MPI.
bool mpiAvailable();

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_WORLD_H
