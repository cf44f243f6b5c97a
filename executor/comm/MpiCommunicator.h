//===- MpiCommunicator.h - ranks that mpirun started ------------*- C++ -*-===//
//
// The host's communicator: Open MPI (Debian's libopenmpi), one process per
// rank as `mpirun -np N` starts them. Every transfer is non-blocking and
// waited on with a deadline; before each collective a rank tells its peers
// that it reached it, so a rank that stopped, hung or died is named in the
// error of the ones that wait for it. A communicator that timed out is
// broken: its destructor calls MPI_Abort (Open MPI 4.1 has no way to recover
// a communicator with a lost rank), which ends every rank of the job.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_MPICOMMUNICATOR_H
#define KILN_EXECUTOR_COMM_MPICOMMUNICATOR_H

#include <memory>

#include "absl/status/statusor.h"
#include "executor/comm/Communicator.h"

namespace kiln {

struct MpiOptions {
  /// Seconds a rank waits for its peers in one transfer before it names the
  /// ranks that did not arrive and fails.
  double timeoutSeconds = 300;
};

/// Initialises MPI and returns MPI_COMM_WORLD as a communicator. Call once
/// per process; MPI is finalised (or aborted, after a failure) when the last
/// reference goes.
absl::StatusOr<std::shared_ptr<Communicator>>
createMpiCommunicator(const MpiOptions &options);

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_MPICOMMUNICATOR_H
