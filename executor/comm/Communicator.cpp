//===- Communicator.cpp - the single-process world ------------------------===//

#include "executor/comm/Communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln {

std::string CollectiveSite::describe() const {
  return location.empty() ? op : absl::StrCat(op, " at ", location);
}

namespace {

class SingleProcess final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "single process"; }

  absl::Status allGather(const void *send, void *recv, int64_t bytes,
                         const CollectiveSite &) override {
    if (bytes > 0 && send != recv)
      std::memmove(recv, send, bytes);
    return absl::OkStatus();
  }
  absl::Status allToAll(const void *send, absl::Span<const int64_t> sendBytes,
                        absl::Span<const int64_t> sendOffsets, void *recv,
                        absl::Span<const int64_t> recvBytes,
                        absl::Span<const int64_t> recvOffsets,
                        const CollectiveSite &site) override {
    if (sendBytes.size() != 1 || recvBytes.size() != 1 ||
        sendOffsets.size() != 1 || recvOffsets.size() != 1 ||
        sendBytes[0] != recvBytes[0])
      return absl::InvalidArgumentError(
          absl::StrCat(site.describe(), ": a one-rank all_to_all sends and "
                                        "receives one equal block"));
    if (sendBytes[0] > 0)
      std::memmove(static_cast<char *>(recv) + recvOffsets[0],
                   static_cast<const char *>(send) + sendOffsets[0],
                   sendBytes[0]);
    return absl::OkStatus();
  }
  absl::Status send(const void *, int64_t, int peer,
                    const CollectiveSite &site) override {
    return noPeer(peer, site);
  }
  absl::Status recv(void *, int64_t, int peer,
                    const CollectiveSite &site) override {
    return noPeer(peer, site);
  }

private:
  static absl::Status noPeer(int peer, const CollectiveSite &site) {
    return absl::FailedPreconditionError(absl::StrCat(
        site.describe(), ": a single process has no peer to exchange with "
        "(asked for rank ", peer, "); launch one process per rank (mpirun -np "
        "N, or the environment rendezvous)"));
  }
};

} // namespace

std::shared_ptr<Communicator> singleProcessCommunicator() {
  static auto *world = new std::shared_ptr<Communicator>(
      std::make_shared<SingleProcess>());
  return *world;
}

} // namespace kiln
