//===- ExecutorCore.h - one executor over any device ------------*- C++ -*-===//
//
// What every executor does the same way, written once: the Executable, the
// named state table, argument binding and checks, and the run of an entry
// (bind state and inputs, run the steps on the device, write donated state
// back only after every step succeeded, return the results). The CPU Executor
// and the CudaExecutor are this core over their Device.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_EXECUTORCORE_H
#define KILN_EXECUTOR_EXECUTORCORE_H

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/Device.h"
#include "executor/EntryRunner.h"
#include "executor/HostTensor.h"
#include "executor/executable.pb.h"

namespace kiln {

class ExecutorCore : public EntryRunner {
public:
  ~ExecutorCore() override;

  /// Materialises every state entry not yet set from its Initializer, seeded
  /// with Philox on the host, so a seed gives the same tensor on every run,
  /// machine and device. Entries without an initializer stay unset.
  absl::Status initializeState() final;
  /// Derived state (computed by the executable's derive entry) cannot be
  /// set; a source set this way makes the state that derives from it stale.
  absl::Status setState(std::string_view name, HostTensor value) final;
  absl::StatusOr<HostTensor> getState(std::string_view name) const final;
  std::vector<std::string> stateNames() const final;
  std::vector<std::string> entryNames() const final;
  const proto::EntryPoint *entry(std::string_view name) const final;

  /// Runs an entry point. `inputs` are the arguments not fed from state, in
  /// order; the results not written back to state come back in order. Results
  /// with `state` set replace that state entry once every step has succeeded,
  /// so a failed run leaves the state as it was. Derived state the entry
  /// reads is first recomputed by its derive entry if a source was written
  /// since it was last computed.
  absl::StatusOr<std::vector<HostTensor>>
  run(std::string_view entry, const std::vector<HostTensor> &inputs) final;
  /// Same, by argument name, returning the results `wanted` (all when
  /// empty) by name; the others are not copied to the host.
  absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry,
           const std::map<std::string, HostTensor> &inputs,
           const std::vector<std::string> &wanted = {}) final;

  int64_t lastPeakBytes() const final;
  int64_t lastOverlappedSteps() const final;
  std::string deviceDescription() const final;
  const proto::Executable &executable() const final { return exe_; }

protected:
  /// The device comes after construction (setDevice), since devices load what
  /// they need from the Executable the core already holds.
  explicit ExecutorCore(proto::Executable exe);
  void setDevice(std::unique_ptr<Device> device);
  /// Index into Executable.entries, or -1.
  int entryIndex(std::string_view name) const;
  /// run(), copying to the host only the results `wanted` marks (one flag
  /// per entry result; empty: all).
  absl::StatusOr<std::vector<HostTensor>>
  runEntry(std::string_view entry, const std::vector<HostTensor> &inputs,
           std::vector<bool> wanted);

private:
  int stateIndex(std::string_view name) const;
  absl::Status materialize(int index);
  absl::Status store(int index, HostTensor value);
  /// Records that state `index` has a new value.
  void touch(int index) { versions[index] = ++clock; }
  /// Derived state `index` has no value or one computed from sources that
  /// were written since.
  bool isStale(int index) const;
  /// Runs the derive entries of the stale derived state `ep` reads.
  absl::Status refreshDerivedState(const proto::EntryPoint &ep);

  proto::Executable exe_;
  // Declared before the state so that state is freed first, while the device
  // is still open.
  std::unique_ptr<Device> device_;
  std::vector<std::unique_ptr<DeviceState>> state_; // parallel to exe_.state()
  // Derived state: when each state was last written (a logical clock), the
  // indices of each derived state's sources, and their versions when it was
  // computed (empty: never). All parallel to exe_.state().
  uint64_t clock = 0;
  // Every run looks up each state argument: by hash, not a scan of the table.
  absl::flat_hash_map<std::string, int> stateIndexByName;
  std::vector<uint64_t> versions;
  std::vector<std::vector<int>> sourceIndices;
  std::vector<std::vector<uint64_t>> computedFrom;
};

} // namespace kiln

#endif // KILN_EXECUTOR_EXECUTORCORE_H
