// What host loops (training, generation, checkpoints) need from an executor: one
// Executable's entry points and its named state, resident on some device. The CPU
// Executor and the CudaExecutor implement it, so a loop written once runs on either.
#ifndef KILN_EXECUTOR_ENTRYRUNNER_H
#define KILN_EXECUTOR_ENTRYRUNNER_H

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/HostTensor.h"
#include "executor/executable.pb.h"

namespace kiln {

class EntryRunner {
public:
  virtual ~EntryRunner() = default;

  /// Materialises every state entry not yet set from its Initializer (Philox-seeded,
  /// so every implementation starts from identical values).
  virtual absl::Status initializeState() = 0;
  virtual absl::Status setState(std::string_view name, HostTensor value) = 0;
  /// A copy on the host; an entry that was never set is FailedPrecondition.
  virtual absl::StatusOr<HostTensor> getState(std::string_view name) const = 0;
  virtual std::vector<std::string> stateNames() const = 0;
  virtual std::vector<std::string> entryNames() const = 0;
  /// nullptr when the Executable has no such entry point.
  virtual const proto::EntryPoint *entry(std::string_view name) const = 0;

  /// Runs an entry point. `inputs` are the arguments not fed from state, in order;
  /// the results not written back to state come back in order. A failed run leaves
  /// the state as it was.
  virtual absl::StatusOr<std::vector<HostTensor>> run(std::string_view entry,
                                                      const std::vector<HostTensor> &inputs) = 0;
  /// Same, by argument name, returning results by name: those named in
  /// `wanted`, or every one when it is empty. The others are never copied off
  /// the device (a decode step's caller wants its tokens, not its [B, V]
  /// logits); a name the entry does not return is InvalidArgument.
  virtual absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry,
           const std::map<std::string, HostTensor> &inputs,
           const std::vector<std::string> &wanted = {}) = 0;

  /// Peak bytes of the last run, as the implementation measures them.
  virtual int64_t lastPeakBytes() const = 0;
  /// Steps of the last run that ran while a collective was in flight: the
  /// communication the run overlapped (0 where nothing overlaps).
  virtual int64_t lastOverlappedSteps() const { return 0; }
  /// "CPU (8 threads)", "CUDA device 0 (NVIDIA H200, sm_90)": for logs.
  virtual std::string deviceDescription() const = 0;
  virtual const proto::Executable &executable() const = 0;
};

} // namespace kiln

#endif // KILN_EXECUTOR_ENTRYRUNNER_H
