//===- AllToAllPlan.h - the byte plan of one all_to_all ---------*- C++ -*-===//
//
// What every device does the same way for kiln.all_to_all once the counts are
// on the host: check this rank's counts, agree with every rank on whether
// any failed (so a bad count ends the op everywhere, never leaving a peer
// waiting), and turn row counts into byte counts and offsets.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_COMM_ALLTOALLPLAN_H
#define KILN_EXECUTOR_COMM_ALLTOALLPLAN_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/comm/Communicator.h"

namespace kiln {

/// OK when each of the four spans has one entry per rank of a world of
/// `size`; an error naming `site` otherwise.
absl::Status checkAllToAllSpans(int size, absl::Span<const int64_t> sendBytes,
                                absl::Span<const int64_t> sendOffsets,
                                absl::Span<const int64_t> recvBytes,
                                absl::Span<const int64_t> recvOffsets,
                                const CollectiveSite &site);

struct AllToAllPlan {
  std::vector<int64_t> sendBytes, sendOffsets, recvBytes, recvOffsets;
};

/// sendCounts[p] rows of `rowBytes` go to rank p; recvCounts[s] come from
/// rank s. Problems with this rank's counts (negative, more rows sent than
/// x's `rows`, more received than `capacity`) are exchanged through
/// `comm.allGather` of one byte per rank, in `flagSend` and `flagRecv`
/// (size() bytes; device memory for a device communicator, with
/// `writeFlag`/`readFlags` copying it to and from the host), and every rank
/// fails naming the rank whose counts were bad.
absl::StatusOr<AllToAllPlan> planAllToAll(
    Communicator &comm, const std::vector<int64_t> &sendCounts,
    const std::vector<int64_t> &recvCounts, int64_t rows, int64_t capacity,
    int64_t rowBytes, const CollectiveSite &site, void *flagSend,
    void *flagRecv,
    const std::function<absl::Status(void *dst, char flag)> &writeFlag,
    const std::function<absl::Status(std::vector<char> &out,
                                     const void *src)> &readFlags);

} // namespace kiln

#endif // KILN_EXECUTOR_COMM_ALLTOALLPLAN_H
