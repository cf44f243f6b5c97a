// The CPU executor: the host rules on top of the shared Executable checks, and
// the executor core over a CpuDevice.
#include "executor/Executor.h"

#include "executor/ExecutableValidation.h"
#include "executor/StatusMacros.h"
#include "executor/cpu/CpuDevice.h"

namespace kiln {

Executor::Executor(proto::Executable exe) : ExecutorCore(std::move(exe)) {}

Executor::~Executor() = default;

absl::StatusOr<std::unique_ptr<Executor>>
Executor::create(proto::Executable exe, ExecutorOptions opts) {
  KILN_RETURN_IF_ERROR(validateExecutable(exe, cpuExecutableRules()));
  std::unique_ptr<Executor> x(new Executor(std::move(exe)));
  x->setDevice(
      std::make_unique<CpuDevice>(opts.numThreads, opts.batchInvariant,
                                  std::move(opts.communicator),
                                  opts.overlapCollectives));
  return x;
}

} // namespace kiln
