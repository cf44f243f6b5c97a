//===- ForwardingEntryRunner.h - an EntryRunner over another ----*- C++ -*-===//
//
// Passes every call to an inner EntryRunner, so a view or wrapper over an
// executor (ZeRO-1's whole-state view, a test's step counter) overrides only
// the calls it changes.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_FORWARDINGENTRYRUNNER_H
#define KILN_EXECUTOR_FORWARDINGENTRYRUNNER_H

#include "executor/EntryRunner.h"

namespace kiln {

class ForwardingEntryRunner : public EntryRunner {
public:
  /// `inner` outlives this runner.
  explicit ForwardingEntryRunner(EntryRunner &inner) : inner(inner) {}

  absl::Status initializeState() override { return inner.initializeState(); }
  absl::Status setState(std::string_view name, HostTensor value) override {
    return inner.setState(name, std::move(value));
  }
  absl::StatusOr<HostTensor> getState(std::string_view name) const override {
    return inner.getState(name);
  }
  std::vector<std::string> stateNames() const override {
    return inner.stateNames();
  }
  std::vector<std::string> entryNames() const override {
    return inner.entryNames();
  }
  const proto::EntryPoint *entry(std::string_view name) const override {
    return inner.entry(name);
  }
  absl::StatusOr<std::vector<HostTensor>>
  run(std::string_view entry, const std::vector<HostTensor> &inputs) override {
    return inner.run(entry, inputs);
  }
  absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry,
           const std::map<std::string, HostTensor> &inputs,
           const std::vector<std::string> &wanted = {}) override {
    return inner.runNamed(entry, inputs, wanted);
  }
  int64_t lastPeakBytes() const override { return inner.lastPeakBytes(); }
  int64_t lastOverlappedSteps() const override {
    return inner.lastOverlappedSteps();
  }
  std::string deviceDescription() const override {
    return inner.deviceDescription();
  }
  const proto::Executable &executable() const override {
    return inner.executable();
  }

protected:
  EntryRunner &inner;
};

} // namespace kiln

#endif // KILN_EXECUTOR_FORWARDINGENTRYRUNNER_H
