//===- SingleRank.h - a world of one rank -----------------------*- C++ -*-===//
//
// The communicator of a process that no launcher started: every exchange is
// a copy within the process. Devices differ only in how bytes are copied
// (memmove on the host, a device-to-device copy on a GPU's stream).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_SINGLERANK_H
#define KILN_EXECUTOR_COMM_SINGLERANK_H

#include <string>

#include "executor/comm/Communicator.h"

namespace kiln {

class SingleRankCommunicator : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }

  absl::Status allGather(const void *send, void *recv, int64_t bytes,
                         const CollectiveSite &site) override;
  absl::Status allToAll(const void *send, absl::Span<const int64_t> sendBytes,
                        absl::Span<const int64_t> sendOffsets, void *recv,
                        absl::Span<const int64_t> recvBytes,
                        absl::Span<const int64_t> recvOffsets,
                        const CollectiveSite &site) override;
  /// A single process has no peer: both are errors that say how to start
  /// one process per rank.
  absl::Status send(const void *, int64_t, int peer,
                    const CollectiveSite &site) override;
  absl::Status recv(void *, int64_t, int peer,
                    const CollectiveSite &site) override;

protected:
  /// Copies `bytes` from `from` to `to` (distinct, bytes > 0) in the memory
  /// this communicator's buffers live in.
  virtual absl::Status copy(void *to, const void *from, int64_t bytes,
                            const CollectiveSite &site) = 0;
};

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_SINGLERANK_H
