// The CUDA executor: the ptx rules on top of the shared Executable checks, and
// the executor core over a PtxDevice.
#include "executor/cuda/CudaExecutor.h"

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "executor/cuda/PtxDevice.h"
#include "executor/cuda/PtxValidation.h"

namespace kiln {

CudaExecutor::CudaExecutor(proto::Executable exe)
    : ExecutorCore(std::move(exe)) {}

CudaExecutor::~CudaExecutor() = default;

absl::StatusOr<std::unique_ptr<CudaExecutor>>
CudaExecutor::create(proto::Executable exe, CudaExecutorOptions opts) {
  // Before the device opens, so that a bad Executable is named without a GPU.
  KILN_RETURN_IF_ERROR(validateExecutable(exe, cuda::ptxExecutableRules()));
  std::unique_ptr<CudaExecutor> x(new CudaExecutor(std::move(exe)));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<cuda::PtxDevice> device,
                        cuda::PtxDevice::open(x->executable(), opts));
  x->ptx_ = device.get();
  x->setDevice(std::move(device));
  return x;
}

absl::StatusOr<double>
CudaExecutor::timeEntry(std::string_view name,
                        const std::vector<HostTensor> &inputs, int iterations) {
  if (iterations < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "timeEntry needs at least one iteration, given ", iterations));
  KILN_RETURN_IF_ERROR(run(name, inputs).status());
  return ptx_->timeEntry(entryIndex(name), iterations);
}

} // namespace kiln
