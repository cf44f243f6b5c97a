//===- TrainRanks.h - the ranks of a data-parallel kiln-train run -*- C++
//-*-===//
//
// kiln-train under `mpirun -np N` runs N copies of the same loop. The
// compiled steps average gradients among themselves (kiln-data-parallel); what
// the host loops must agree on besides (which rollouts were kept, the metrics,
// whether to stop, whether a checkpoint was written) travels here, through the
// same Communicator, so every rank takes every decision from the same values.
// Exchanges are of host bytes: a host (MPI or single-process) communicator.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_TRAINRANKS_H
#define KILN_MODELS_TRAIN_TRAINRANKS_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/comm/Communicator.h"

namespace kiln::train {

class TrainRanks {
public:
  /// The single process.
  TrainRanks();
  /// The ranks of `communicator`'s world; null is the single process.
  explicit TrainRanks(std::shared_ptr<Communicator> communicator);

  int rank() const { return communicator->rank(); }
  int size() const { return communicator->size(); }
  /// Rank 0: the one that writes metrics and checkpoints.
  bool isLeader() const { return rank() == 0; }
  const std::shared_ptr<Communicator> &world() const { return communicator; }

  /// The items [begin, end) of `count` that rank `r` (default: this one)
  /// takes: contiguous blocks in rank order, sizes differing by at most one.
  std::pair<int64_t, int64_t> share(int64_t count, int r = -1) const;

  /// Every rank's `mine`, in rank order. Byte strings of any length; `what`
  /// names the exchange in errors.
  absl::StatusOr<std::vector<std::string>>
  allGather(const std::string &mine, const std::string &what) const;

  /// Each value summed over the ranks in rank order: the same bits on every
  /// rank. Every rank passes as many values.
  absl::StatusOr<std::vector<double>> sum(const std::vector<double> &values,
                                          const std::string &what) const;

  /// True on every rank when `mine` is true on any.
  absl::StatusOr<bool> any(bool mine, const std::string &what) const;

  /// Where some rank's words first differ from rank 0's.
  struct Mismatch {
    int rank;
    int64_t index;
    uint64_t leaderWord, theirWord;
  };
  /// Compares every rank's `words` with rank 0's: nullopt when all are the
  /// same, else the first difference in rank order, the same on every rank
  /// (a rank with fewer words differs at its end, with word 0).
  absl::StatusOr<std::optional<Mismatch>>
  differFromLeader(const std::vector<uint64_t> &words,
                   const std::string &what) const;

  /// A barrier that carries each rank's outcome: OK on every rank when every
  /// rank passed OK, else on every rank the first failure, naming its rank.
  absl::Status agree(const absl::Status &mine, const std::string &what) const;

private:
  std::shared_ptr<Communicator> communicator;
};

/// Appends and reads the fixed-width values the ranks exchange (the ranks
/// of one job run one build on one kind of machine: native byte order).
class ByteWriter {
public:
  void putInt(int64_t v);
  void putDouble(double v);
  void putInts(const std::vector<int64_t> &values);
  void putString(const std::string &text);
  const std::string &bytes() const { return out; }

private:
  std::string out;
};

class ByteReader {
public:
  explicit ByteReader(const std::string &bytes) : in(bytes) {}
  /// Each fails with a DataLossError past the end of the bytes.
  absl::StatusOr<int64_t> getInt();
  absl::StatusOr<double> getDouble();
  absl::StatusOr<std::vector<int64_t>> getInts();
  absl::StatusOr<std::string> getString();
  bool done() const { return at == in.size(); }

private:
  absl::Status need(size_t bytes) const;
  const std::string &in;
  size_t at = 0;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_TRAINRANKS_H
