//===- Communicator.h - how ranks exchange bytes ----------------*- C++ -*-===//
//
// The executor's side of the collectives (docs/OPS.md "Collectives"): one
// process per rank, every rank running the same Executable, and a
// Communicator moving bytes between them through an existing engine (MPI on
// the host, NCCL between GPUs; executor/comm/README.md says which and how they
// start). Communicators move bytes only: the reductions of all_reduce and
// reduce_scatter are summed by Kiln's own code in rank order (collective
// kernels), so a sum has the same bits on every rank, run and world layout.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_COMMUNICATOR_H
#define KILN_EXECUTOR_COMM_COMMUNICATOR_H

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace kiln {

/// The op a transfer runs for, named in errors ("all_reduce at model.cpp:12").
struct CollectiveSite {
  std::string op;
  std::string location;
  std::string describe() const;
};

class Communicator {
public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "MPI rank 1 of 2", "single process".
  virtual std::string describe() const = 0;

  /// Every rank's `bytes` bytes of `send`; rank r's land at recv + r * bytes.
  virtual absl::Status allGather(const void *send, void *recv, int64_t bytes,
                                 const CollectiveSite &site) = 0;
  /// sendBytes[p] bytes at send + sendOffsets[p] go to rank p; the
  /// recvBytes[s] bytes from rank s land at recv + recvOffsets[s]. Every span
  /// has size() entries, and the byte counts must agree pairwise (exchange
  /// them first with an allToAll of 8 bytes per peer).
  virtual absl::Status allToAll(const void *send,
                                absl::Span<const int64_t> sendBytes,
                                absl::Span<const int64_t> sendOffsets,
                                void *recv,
                                absl::Span<const int64_t> recvBytes,
                                absl::Span<const int64_t> recvOffsets,
                                const CollectiveSite &site) = 0;
  /// Point to point; a send and a recv between two ranks match in order.
  virtual absl::Status send(const void *data, int64_t bytes, int peer,
                            const CollectiveSite &site) = 0;
  virtual absl::Status recv(void *data, int64_t bytes, int peer,
                            const CollectiveSite &site) = 0;

  /// A device communicator queues its transfers on the stream the
  /// executor runs its steps on (a CUstream); host ones have none.
  virtual void setStream(void *stream) {}
};

/// A world of one rank: every collective is a local copy. What a program with
/// collectives runs on when no launcher started it.
std::shared_ptr<Communicator> singleProcessCommunicator();

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_COMMUNICATOR_H
