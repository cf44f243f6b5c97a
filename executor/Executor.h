// The CPU executor: loads a host Executable, keeps its named state resident, and runs
// entry points step by step on the Eigen kernels of executor/cpu/.
#ifndef KILN_EXECUTOR_EXECUTOR_H
#define KILN_EXECUTOR_EXECUTOR_H

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "executor/HostTensor.h"
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
};

class Executor final : public EntryRunner {
public:
  /// Validates the Executable (target must be "host"; buffer ids in range; every step's
  /// op known) and returns a clear error otherwise.
  static absl::StatusOr<std::unique_ptr<Executor>> create(proto::Executable exe,
                                                          ExecutorOptions opts = {});
  ~Executor() override;

  /// Materialises every state entry not yet set from its Initializer, seeded with
  /// Philox so a seed gives the same tensor on every run and machine. Entries without
  /// an initializer stay unset.
  absl::Status initializeState() override;
  absl::Status setState(std::string_view name, HostTensor value) override;
  absl::StatusOr<HostTensor> getState(std::string_view name) const override;
  std::vector<std::string> stateNames() const override;
  std::vector<std::string> entryNames() const override;
  const proto::EntryPoint *entry(std::string_view name) const override;

  /// Runs an entry point. `inputs` are the arguments not fed from state, in order; the
  /// results not written back to state come back in order. Results with `state` set
  /// replace that state entry (its storage is taken over, not copied) once every step
  /// has succeeded, so a failed run leaves the state as it was.
  absl::StatusOr<std::vector<HostTensor>> run(std::string_view entry,
                                              const std::vector<HostTensor> &inputs) override;
  /// Same, by argument name, returning results by name.
  absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry, const std::map<std::string, HostTensor> &inputs) override;

  /// Peak live bytes of the last run, measured under Step.release.
  int64_t lastPeakBytes() const override { return lastPeakBytes_; }
  /// "CPU (N threads)".
  std::string deviceDescription() const override;

  const proto::Executable &executable() const override { return exe_; }

private:
  struct Threads;
  Executor(proto::Executable exe, ExecutorOptions opts);
  int stateIndex(std::string_view name) const;
  absl::Status materialize(int index);
  absl::StatusOr<std::vector<HostTensor>> runEntry(const proto::EntryPoint &ep,
                                                   std::vector<HostTensor> callerArgs);

  proto::Executable exe_;
  ExecutorOptions opts_;
  std::unique_ptr<Threads> threads_;
  std::vector<std::optional<HostTensor>> state_; // parallel to exe_.state()
  int64_t lastPeakBytes_ = 0;
};

/// Binary protobuf, or text format when the path ends in .txtpb/.pbtxt.
absl::StatusOr<proto::Executable> readExecutable(const std::string &path);
/// Writes to path.tmp, then renames, so a crash never leaves a half-written file.
absl::Status writeExecutable(const proto::Executable &exe, const std::string &path, bool text);

} // namespace kiln

#endif // KILN_EXECUTOR_EXECUTOR_H
