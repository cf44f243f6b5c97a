//===- Launcher.h - how this process was started ----------------*- C++ -*-===//
//
// A process learns its rank from whatever launched it: mpirun (MPI),
// torchrun-style variables (the environment rendezvous), or nothing at all (a
// single process). executor/comm/README.md says how to launch on one node and
// on several.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_LAUNCHER_H
#define KILN_EXECUTOR_COMM_LAUNCHER_H

#include "absl/status/statusor.h"

namespace kiln {

enum class Launcher {
  Single, ///< no launcher: a world of one
  Mpi,    ///< mpirun (or another MPI launcher)
  Env,    ///< torchrun-style RANK / WORLD_SIZE variables
};

/// Reads the environment: MPI's variables first, then WORLD_SIZE > 1.
Launcher detectLauncher();

/// The ranks the launcher started on this node: Open MPI's
/// OMPI_COMM_WORLD_LOCAL_SIZE, torchrun's LOCAL_WORLD_SIZE, else 1. They
/// share its cores.
int localWorldSize();
/// This rank's index on its node, the GPU it takes: Open MPI's
/// OMPI_COMM_WORLD_LOCAL_RANK, MPICH's MPI_LOCALRANKID, torchrun's
/// LOCAL_RANK, else 0.
int localRank();

struct WorldOptions {
  /// Seconds a rank waits for its peers in one collective before it names
  /// the ranks that did not arrive and fails. KILN_COLLECTIVE_TIMEOUT (in
  /// seconds) overrides it.
  double timeoutSeconds = 300;
};

/// options.timeoutSeconds, or KILN_COLLECTIVE_TIMEOUT where set (an error
/// names a value that is not a positive number).
absl::StatusOr<double> collectiveTimeout(const WorldOptions &options);

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_LAUNCHER_H
