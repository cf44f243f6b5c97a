//===- Communicator.cpp - the single-process world ------------------------===//

#include "executor/comm/Communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "executor/comm/AllToAllPlan.h"
#include "executor/comm/SingleRank.h"

namespace kiln {

std::string CollectiveSite::describe() const {
  return location.empty() ? op : absl::StrCat(op, " at ", location);
}

absl::Status SingleRankCommunicator::allGather(const void *send, void *recv,
                                               int64_t bytes,
                                               const CollectiveSite &site) {
  if (bytes == 0 || send == recv)
    return absl::OkStatus();
  return copy(recv, send, bytes, site);
}

absl::Status SingleRankCommunicator::allToAll(
    const void *send, absl::Span<const int64_t> sendBytes,
    absl::Span<const int64_t> sendOffsets, void *recv,
    absl::Span<const int64_t> recvBytes, absl::Span<const int64_t> recvOffsets,
    const CollectiveSite &site) {
  if (absl::Status s = checkAllToAllSpans(1, sendBytes, sendOffsets, recvBytes,
                                          recvOffsets, site);
      !s.ok())
    return s;
  if (sendBytes[0] != recvBytes[0])
    return absl::InvalidArgumentError(absl::StrCat(
        site.describe(), ": a one-rank all_to_all sends and receives one "
                         "equal block"));
  void *to = static_cast<char *>(recv) + recvOffsets[0];
  const void *from = static_cast<const char *>(send) + sendOffsets[0];
  if (sendBytes[0] == 0 || to == from)
    return absl::OkStatus();
  return copy(to, from, sendBytes[0], site);
}

namespace {

absl::Status noPeer(int peer, const CollectiveSite &site) {
  return absl::FailedPreconditionError(absl::StrCat(
      site.describe(), ": a single process has no peer to exchange with "
                       "(asked for rank ",
      peer,
      "); launch one process per rank (mpirun -np N, or the environment "
      "rendezvous: executor/comm/README.md)"));
}

} // namespace

absl::Status SingleRankCommunicator::send(const void *, int64_t, int peer,
                                          const CollectiveSite &site) {
  return noPeer(peer, site);
}

absl::Status SingleRankCommunicator::recv(void *, int64_t, int peer,
                                          const CollectiveSite &site) {
  return noPeer(peer, site);
}

namespace {

class HostSingleRank final : public SingleRankCommunicator {
public:
  std::string describe() const override { return "single process"; }

protected:
  absl::Status copy(void *to, const void *from, int64_t bytes,
                    const CollectiveSite &) override {
    std::memmove(to, from, bytes);
    return absl::OkStatus();
  }
};

} // namespace

std::shared_ptr<Communicator> singleProcessCommunicator() {
  static auto *world = new std::shared_ptr<Communicator>(
      std::make_shared<HostSingleRank>());
  return *world;
}

} // namespace kiln
