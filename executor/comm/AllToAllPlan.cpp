//===- AllToAllPlan.cpp - the byte plan of one all_to_all -----------------===//

#include "executor/comm/AllToAllPlan.h"

#include "absl/strings/str_cat.h"

namespace kiln {

absl::Status checkAllToAllSpans(int size, absl::Span<const int64_t> sendBytes,
                                absl::Span<const int64_t> sendOffsets,
                                absl::Span<const int64_t> recvBytes,
                                absl::Span<const int64_t> recvOffsets,
                                const CollectiveSite &site) {
  for (auto span : {sendBytes, sendOffsets, recvBytes, recvOffsets})
    if (static_cast<int>(span.size()) != size)
      return absl::InvalidArgumentError(
          absl::StrCat(site.describe(), ": all_to_all needs one count and "
                                        "offset per rank of ",
                       size));
  return absl::OkStatus();
}

absl::StatusOr<AllToAllPlan> planAllToAll(
    Communicator &comm, const std::vector<int64_t> &sendCounts,
    const std::vector<int64_t> &recvCounts, int64_t rows, int64_t capacity,
    int64_t rowBytes, const CollectiveSite &site, void *flagSend,
    void *flagRecv,
    const std::function<absl::Status(void *dst, char flag)> &writeFlag,
    const std::function<absl::Status(std::vector<char> &out,
                                     const void *src)> &readFlags) {
  int groups = comm.size();
  std::string problem;
  int64_t sent = 0, received = 0;
  for (int p = 0; p < groups && problem.empty(); ++p) {
    if (sendCounts[p] < 0 || recvCounts[p] < 0)
      problem = absl::StrCat("a negative row count (", sendCounts[p],
                             " to rank ", p, ", ", recvCounts[p],
                             " from it)");
    sent += sendCounts[p];
    received += recvCounts[p];
  }
  if (problem.empty() && sent > rows)
    problem = absl::StrCat("send counts that total ", sent,
                           " rows of an x of ", rows);
  if (problem.empty() && received > capacity)
    problem =
        absl::StrCat(received, " rows to receive, past capacity ", capacity);

  // Every rank learns whether any rank's counts were bad before a row moves.
  char failed = problem.empty() ? 0 : 1;
  std::vector<char> anyFailed(groups);
  if (absl::Status s = writeFlag(flagSend, failed); !s.ok())
    return s;
  if (absl::Status s = comm.allGather(flagSend, flagRecv, 1, site); !s.ok())
    return s;
  if (absl::Status s = readFlags(anyFailed, flagRecv); !s.ok())
    return s;
  std::string where = site.describe();
  if (failed)
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": rank ", comm.rank(), " has ", problem));
  for (int p = 0; p < groups; ++p)
    if (anyFailed[p])
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": rank ", p,
          " has invalid row counts (its error says which); no rows were "
          "exchanged"));

  AllToAllPlan plan;
  int64_t sendAt = 0, recvAt = 0;
  for (int p = 0; p < groups; ++p) {
    plan.sendBytes.push_back(sendCounts[p] * rowBytes);
    plan.sendOffsets.push_back(sendAt);
    sendAt += plan.sendBytes.back();
    plan.recvBytes.push_back(recvCounts[p] * rowBytes);
    plan.recvOffsets.push_back(recvAt);
    recvAt += plan.recvBytes.back();
  }
  return plan;
}

} // namespace kiln
