// cuModuleLoadDataEx with the JIT log buffers attached, so a PTX error reaches the
// user as ptxas wrote it rather than as a bare CUDA_ERROR_INVALID_PTX.
#include "executor/cuda/CudaModule.h"

#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "executor/StatusMacros.h"

namespace kiln::cuda {

absl::StatusOr<std::unique_ptr<CudaModule>>
CudaModule::load(std::shared_ptr<const CudaDevice> device, const proto::PtxModule &module) {
  const CudaApi &api = device->api();
  KILN_RETURN_IF_ERROR(device->makeCurrent());
  constexpr size_t kLogBytes = 16384;
  std::vector<char> errorLog(kLogBytes, 0), infoLog(kLogBytes, 0);
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {errorLog.data(), reinterpret_cast<void *>(uintptr_t{kLogBytes - 1}),
                    infoLog.data(), reinterpret_cast<void *>(uintptr_t{kLogBytes - 1})};
  // The driver wants a NUL-terminated image; std::string guarantees one after size().
  CUmodule handle = nullptr;
  CUresult r = api.cuModuleLoadDataEx(&handle, module.ptx().c_str(), 4, options, values);
  if (r != CUDA_SUCCESS) {
    std::string log(errorLog.data());
    return absl::InvalidArgumentError(absl::StrCat(
        "PTX module '", module.name(), "' (", module.arch().empty() ? "no arch" : module.arch(),
        ") failed to load on ", device->describe(), ": ", api.errorText(r),
        log.empty() ? "; the JIT left no log" : "\nJIT log:\n",
        absl::StripTrailingAsciiWhitespace(log)));
  }
  return std::unique_ptr<CudaModule>(new CudaModule(std::move(device), handle, module.name()));
}

CudaModule::~CudaModule() {
  if (module_) {
    (void)device_->makeCurrent();
    (void)device_->api().cuModuleUnload(module_);
  }
}

absl::StatusOr<CUfunction> CudaModule::function(const std::string &kernel) const {
  CUfunction fn = nullptr;
  CUresult r = device_->api().cuModuleGetFunction(&fn, module_, kernel.c_str());
  if (r != CUDA_SUCCESS)
    return absl::InvalidArgumentError(absl::StrCat("PTX module '", name_, "' has no kernel '",
                                                   kernel, "': ", device_->api().errorText(r)));
  return fn;
}

} // namespace kiln::cuda
