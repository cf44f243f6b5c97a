// The CPU executor: loads a host Executable, keeps its named state resident,
// and runs entry points step by step on the Eigen kernels of executor/cpu/ (the
// executor core of ExecutorCore.h over the CpuDevice).
#ifndef KILN_EXECUTOR_EXECUTOR_H
#define KILN_EXECUTOR_EXECUTOR_H

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/ExecutorCore.h"
#include "executor/comm/Communicator.h"
#include "executor/executable.pb.h"

namespace kiln {

struct ExecutorOptions {
  int numThreads = 0; // 0 = hardware concurrency
  /// Kernels whose per-row bits could depend on the other rows of a product
  /// (grouped_matmul's rows mode) compute in fixed blocks instead, so a row's
  /// result never depends on its neighbours: a served request's tokens are the
  /// same alone or in any batch. Off for training, whose throughput path it
  /// would change.
  bool batchInvariant = false;
  /// The ranks that the collective ops talk to; null runs them in a single
  /// process (a world of one).
  std::shared_ptr<Communicator> communicator;
  /// Collectives run on their own thread, in program order, while the steps
  /// that do not read their results go on (a gradient bucket's all_reduce
  /// overlaps the rest of the backward). The same bits either way.
  bool overlapCollectives = true;
};

class Executor final : public ExecutorCore {
public:
  /// Validates the Executable (target must be "host"; buffer ids in range;
  /// every step's op known) and returns a clear error otherwise.
  static absl::StatusOr<std::unique_ptr<Executor>>
  create(proto::Executable exe, ExecutorOptions opts = {});
  ~Executor() override;

private:
  explicit Executor(proto::Executable exe);
};

/// Binary protobuf, or text format when the path ends in .txtpb/.pbtxt.
absl::StatusOr<proto::Executable> readExecutable(const std::string &path);
/// Writes to path.tmp, then renames, so a crash never leaves a half-written
/// file.
absl::Status writeExecutable(const proto::Executable &exe,
                             const std::string &path, bool text);

} // namespace kiln

#endif // KILN_EXECUTOR_EXECUTOR_H
