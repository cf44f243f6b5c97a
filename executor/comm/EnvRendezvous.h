//===- EnvRendezvous.h - ranks started without MPI --------------*- C++ -*-===//
//
// The GPU machines have no MPI runtime, and the static runtime binaries carry
// none, so ranks can also start with torchrun's environment: RANK,
// WORLD_SIZE, LOCAL_RANK and MASTER_ADDR, as `torchrun --no-python` or a
// shell loop sets them. The only thing the ranks must agree on before NCCL
// connects them is NCCL's unique id: rank 0 makes it and hands it to the
// others over one TCP port (KILN_RENDEZVOUS_PORT, default MASTER_PORT + 1,
// since torchrun's own store listens on MASTER_PORT; 29501 when neither is
// set). This is a bootstrap, like torch's TCPStore: every tensor moves
// through NCCL.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_ENVRENDEZVOUS_H
#define KILN_EXECUTOR_COMM_ENVRENDEZVOUS_H

#include <string>

#include "absl/status/statusor.h"

namespace kiln {

struct EnvWorld {
  int rank = 0;
  int size = 1;
  int localRank = 0; ///< the device ordinal on this node
  std::string masterAddress = "127.0.0.1";
  int port = 29501;
};

/// Reads RANK, WORLD_SIZE (both required), LOCAL_RANK (default RANK),
/// MASTER_ADDR (default 127.0.0.1) and the port; a missing, non-numeric or
/// out-of-range value is an error naming the variable.
absl::StatusOr<EnvWorld> readEnvWorld();

/// Rank 0's `blob` on every rank: rank 0 listens on the port and answers
/// every other rank, which connects (retrying until rank 0 is up). Waits at
/// most `timeoutSeconds` for the peers, then names the ranks that never
/// connected (or, on the others, that rank 0 never answered).
absl::StatusOr<std::string> shareFromRankZero(const EnvWorld &world,
                                              const std::string &blob,
                                              double timeoutSeconds);

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_ENVRENDEZVOUS_H
