//===- MpiCommunicator.cpp - ranks that mpirun started --------------------===//

#include "executor/comm/MpiCommunicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/comm/AllToAllPlan.h"

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

std::string mpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return absl::StrCat("MPI error ", code);
  return std::string(text, length);
}

/// The largest power of two (at most 1 MiB) dividing every value: transfers
/// count in units of it, so byte counts past INT_MAX fit MPI's int counts.
int64_t commonUnit(std::initializer_list<absl::Span<const int64_t>> lists) {
  int64_t unit = 1 << 20;
  for (absl::Span<const int64_t> list : lists)
    for (int64_t v : list)
      while (unit > 1 && v % unit != 0)
        unit /= 2;
  return unit;
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, MPI_Comm notices, double timeout)
      : comm(comm), notices(notices), timeout(timeout) {
    MPI_Comm_rank(comm, &rankIndex);
    MPI_Comm_size(comm, &worldSize);
    reached.assign(worldSize, 0);
  }

  ~MpiCommunicator() override {
    if (broken) {
      // A peer is gone or stuck: finalising would wait for it forever.
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (auto &[request, value] : pendingNotices)
      MPI_Wait(&request, MPI_STATUS_IGNORE);
    drainNotices();
    MPI_Comm_free(&notices);
    MPI_Comm_free(&comm);
    MPI_Finalize();
  }

  int rank() const override { return rankIndex; }
  int size() const override { return worldSize; }
  std::string describe() const override {
    return absl::StrCat("MPI rank ", rankIndex, " of ", worldSize);
  }

  absl::Status allGather(const void *send, void *recv, int64_t bytes,
                         const CollectiveSite &site) override {
    if (absl::Status s = usable(site); !s.ok())
      return s;
    announce();
    int64_t unit = commonUnit({absl::MakeConstSpan(&bytes, 1)});
    MPI_Datatype type;
    if (auto s = unitType(unit, bytes / unit, site, type); !s.ok())
      return s;
    MPI_Request request;
    int code = MPI_Iallgather(send, static_cast<int>(bytes / unit), type, recv,
                              static_cast<int>(bytes / unit), type, comm,
                              &request);
    absl::Status done = code == MPI_SUCCESS
                            ? await(&request, site, /*peer=*/-1)
                            : failed(site, mpiError(code));
    freeType(type);
    return done;
  }

  absl::Status allToAll(const void *send, absl::Span<const int64_t> sendBytes,
                        absl::Span<const int64_t> sendOffsets, void *recv,
                        absl::Span<const int64_t> recvBytes,
                        absl::Span<const int64_t> recvOffsets,
                        const CollectiveSite &site) override {
    if (absl::Status s = usable(site); !s.ok())
      return s;
    if (absl::Status s = checkAllToAllSpans(worldSize, sendBytes, sendOffsets,
                                            recvBytes, recvOffsets, site);
        !s.ok())
      return s;
    announce();
    int64_t unit =
        commonUnit({sendBytes, sendOffsets, recvBytes, recvOffsets});
    int64_t largest = 0;
    for (auto list : {sendBytes, sendOffsets, recvBytes, recvOffsets})
      for (int64_t v : list)
        largest = std::max(largest, v);
    MPI_Datatype type;
    if (auto s = unitType(unit, largest / unit, site, type); !s.ok())
      return s;
    auto ints = [&](absl::Span<const int64_t> values) {
      std::vector<int> out;
      for (int64_t v : values)
        out.push_back(static_cast<int>(v / unit));
      return out;
    };
    std::vector<int> sc = ints(sendBytes), so = ints(sendOffsets),
                     rc = ints(recvBytes), ro = ints(recvOffsets);
    MPI_Request request;
    int code = MPI_Ialltoallv(send, sc.data(), so.data(), type, recv, rc.data(),
                              ro.data(), type, comm, &request);
    absl::Status done = code == MPI_SUCCESS
                            ? await(&request, site, /*peer=*/-1)
                            : failed(site, mpiError(code));
    freeType(type);
    return done;
  }

  absl::Status send(const void *data, int64_t bytes, int peer,
                    const CollectiveSite &site) override {
    return pointToPoint(const_cast<void *>(data), bytes, peer, site, true);
  }
  absl::Status recv(void *data, int64_t bytes, int peer,
                    const CollectiveSite &site) override {
    return pointToPoint(data, bytes, peer, site, false);
  }

private:
  /// A communicator that failed once stays failed: its peers may be
  /// anywhere.
  absl::Status usable(const CollectiveSite &site) const {
    if (!broken)
      return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        site.describe(), ": the MPI communicator failed earlier: ", brokenBy));
  }

  absl::Status pointToPoint(void *data, int64_t bytes, int peer,
                            const CollectiveSite &site, bool sending) {
    if (absl::Status s = usable(site); !s.ok())
      return s;
    if (peer < 0 || peer >= worldSize || peer == rankIndex)
      return absl::InvalidArgumentError(
          absl::StrCat(site.describe(), ": peer ", peer,
                       " is not another rank of ", describe()));
    int64_t unit = commonUnit({absl::MakeConstSpan(&bytes, 1)});
    MPI_Datatype type;
    if (auto s = unitType(unit, bytes / unit, site, type); !s.ok())
      return s;
    MPI_Request request;
    int count = static_cast<int>(bytes / unit);
    int code = sending ? MPI_Isend(data, count, type, peer, 0, comm, &request)
                       : MPI_Irecv(data, count, type, peer, 0, comm, &request);
    absl::Status done = code == MPI_SUCCESS ? await(&request, site, peer)
                                            : failed(site, mpiError(code));
    freeType(type);
    return done;
  }

  absl::Status unitType(int64_t unit, int64_t count,
                        const CollectiveSite &site, MPI_Datatype &type) {
    if (count > INT_MAX)
      return absl::InvalidArgumentError(absl::StrCat(
          site.describe(), ": ", count, " units of ", unit,
          " bytes are more than one MPI transfer holds; split the tensor"));
    if (unit == 1) {
      type = MPI_BYTE;
      return absl::OkStatus();
    }
    MPI_Type_contiguous(static_cast<int>(unit), MPI_BYTE, &type);
    MPI_Type_commit(&type);
    return absl::OkStatus();
  }
  static void freeType(MPI_Datatype &type) {
    if (type != MPI_BYTE)
      MPI_Type_free(&type);
  }

  /// Tells every peer that this rank reached collective number ++sequence.
  void announce() {
    ++sequence;
    for (int p = 0; p < worldSize; ++p) {
      if (p == rankIndex)
        continue;
      auto value = std::make_unique<int64_t>(sequence);
      MPI_Request request;
      MPI_Isend(value.get(), 1, MPI_INT64_T, p, 0, notices, &request);
      pendingNotices.emplace_back(request, std::move(value));
    }
    // Notices to live peers complete at once; keep only those in flight.
    while (!pendingNotices.empty()) {
      int done = 0;
      MPI_Test(&pendingNotices.front().first, &done, MPI_STATUS_IGNORE);
      if (!done)
        break;
      pendingNotices.pop_front();
    }
  }

  /// Reads every notice that arrived, so `reached` says how far each peer got.
  void drainNotices() {
    while (true) {
      int pending = 0;
      MPI_Status status;
      MPI_Iprobe(MPI_ANY_SOURCE, 0, notices, &pending, &status);
      if (!pending)
        return;
      int64_t value = 0;
      MPI_Recv(&value, 1, MPI_INT64_T, status.MPI_SOURCE, 0, notices,
               MPI_STATUS_IGNORE);
      reached[status.MPI_SOURCE] = std::max(reached[status.MPI_SOURCE], value);
    }
  }

  /// Waits for `request` until the deadline; then names who is missing.
  absl::Status await(MPI_Request *request, const CollectiveSite &site,
                     int peer) {
    auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(timeout));
    int spins = 0;
    while (true) {
      int done = 0;
      int code = MPI_Test(request, &done, MPI_STATUS_IGNORE);
      if (code != MPI_SUCCESS)
        return failed(site, mpiError(code));
      if (done) {
        drainNotices();
        return absl::OkStatus();
      }
      if (Clock::now() > deadline)
        break;
      if (++spins > 1000)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    drainNotices();
    std::vector<int> missing;
    if (peer >= 0) {
      missing.push_back(peer);
    } else {
      for (int p = 0; p < worldSize; ++p)
        if (p != rankIndex && reached[p] < sequence)
          missing.push_back(p);
    }
    std::string who =
        missing.empty()
            ? std::string("every rank reached it, so the transfer itself hung")
            : absl::StrCat(missing.size() == 1 ? "rank " : "ranks ",
                           absl::StrJoin(missing, ", "),
                           peer >= 0 ? " did not answer"
                                     : " did not reach it",
                           " (stopped, hung or dead)");
    return failed(site, absl::StrCat("no answer within ", timeout, " s: ",
                                     who, "; the job must end"));
  }

  absl::Status failed(const CollectiveSite &site, const std::string &why) {
    broken = true;
    brokenBy = absl::StrCat(describe(), ", ", site.describe(), ": ", why);
    return absl::UnavailableError(brokenBy);
  }

  MPI_Comm comm, notices;
  double timeout;
  int rankIndex = 0, worldSize = 1;
  int64_t sequence = 0;
  std::vector<int64_t> reached;
  std::deque<std::pair<MPI_Request, std::unique_ptr<int64_t>>> pendingNotices;
  bool broken = false;
  std::string brokenBy;
};

} // namespace

absl::StatusOr<std::shared_ptr<Communicator>>
createMpiCommunicator(const MpiOptions &options) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized)
    return absl::FailedPreconditionError(
        "MPI is already initialised in this process: create one MPI "
        "communicator per process");
  if (!(options.timeoutSeconds > 0))
    return absl::InvalidArgumentError(absl::StrCat(
        "the collective timeout must be positive, got ",
        options.timeoutSeconds));
  int provided = 0;
  int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED,
                             &provided);
  if (code != MPI_SUCCESS)
    return absl::UnavailableError(
        absl::StrCat("MPI_Init_thread failed: ", mpiError(code)));
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    return absl::UnavailableError(
        "this MPI library cannot be called from more than one thread "
        "(MPI_THREAD_SERIALIZED)");
  }
  MPI_Comm comm, notices;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_dup(MPI_COMM_WORLD, &notices);
  // Errors come back as codes, turned into statuses, never an abort inside
  // the library.
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(notices, MPI_ERRORS_RETURN);
  return std::shared_ptr<Communicator>(
      std::make_shared<MpiCommunicator>(comm, notices, options.timeoutSeconds));
}

} // namespace kiln
