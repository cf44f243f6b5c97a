// dlopen/dlsym of the driver and its error strings; the result is cached so the
// library is opened, and cuInit called, once per process.
#include "executor/cuda/CudaApi.h"

#include <dlfcn.h>

#include "absl/strings/str_cat.h"
#include "executor/cuda/SymbolBinder.h"

namespace kiln::cuda {

std::string CudaApi::errorText(CUresult error) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(error, &name) != CUDA_SUCCESS || !name)
    name = "CUDA_ERROR_UNKNOWN";
  if (cuGetErrorString(error, &text) != CUDA_SUCCESS || !text)
    text = "unrecognised error code";
  return absl::StrCat(name, " (", error, "): ", text);
}

absl::Status CudaApi::check(CUresult error, absl::string_view what) const {
  if (error == CUDA_SUCCESS)
    return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", errorText(error));
  if (error == CUDA_ERROR_OUT_OF_MEMORY)
    return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

namespace {

absl::StatusOr<CudaApi> load() {
  // RTLD_LOCAL keeps the driver's symbols out of the global namespace; the handle is
  // never closed because the driver must outlive every context and static destructor.
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return absl::UnavailableError(absl::StrCat("no CUDA driver (libcuda.so.1 not found): ",
                                               why ? why : "dlopen failed"));
  }
  CudaApi api{};
  SymbolBinder bind(lib);
  bind(api.cuInit, "cuInit");
  bind(api.cuDriverGetVersion, "cuDriverGetVersion");
  bind(api.cuGetErrorName, "cuGetErrorName");
  bind(api.cuGetErrorString, "cuGetErrorString");
  bind(api.cuDeviceGetCount, "cuDeviceGetCount");
  bind(api.cuDeviceGet, "cuDeviceGet");
  bind(api.cuDeviceGetName, "cuDeviceGetName");
  bind(api.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  bind(api.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  bind(api.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  bind(api.cuCtxSetCurrent, "cuCtxSetCurrent");
  bind(api.cuMemGetInfo, "cuMemGetInfo_v2");
  bind(api.cuMemAlloc, "cuMemAlloc_v2");
  bind(api.cuMemFree, "cuMemFree_v2");
  bind(api.cuMemHostAlloc, "cuMemHostAlloc");
  bind(api.cuMemFreeHost, "cuMemFreeHost");
  bind(api.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  bind(api.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  bind(api.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
  bind(api.cuMemsetD8Async, "cuMemsetD8Async");
  bind(api.cuStreamCreate, "cuStreamCreate");
  bind(api.cuStreamDestroy, "cuStreamDestroy_v2");
  bind(api.cuStreamSynchronize, "cuStreamSynchronize");
  bind(api.cuStreamQuery, "cuStreamQuery");
  bind(api.cuModuleLoadDataEx, "cuModuleLoadDataEx");
  bind(api.cuModuleUnload, "cuModuleUnload");
  bind(api.cuModuleGetFunction, "cuModuleGetFunction");
  bind(api.cuLaunchKernel, "cuLaunchKernel");
  bind(api.cuLaunchKernelEx, "cuLaunchKernelEx");
  bind(api.cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled");
  bind(api.cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  bind(api.cuStreamEndCapture, "cuStreamEndCapture");
  bind(api.cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
  bind(api.cuGraphLaunch, "cuGraphLaunch");
  bind(api.cuGraphExecDestroy, "cuGraphExecDestroy");
  bind(api.cuGraphDestroy, "cuGraphDestroy");
  bind(api.cuFuncSetAttribute, "cuFuncSetAttribute");
  bind(api.cuEventCreate, "cuEventCreate");
  bind(api.cuEventRecord, "cuEventRecord");
  bind(api.cuEventSynchronize, "cuEventSynchronize");
  bind(api.cuEventElapsedTime, "cuEventElapsedTime");
  bind(api.cuEventDestroy, "cuEventDestroy_v2");
  if (!bind.missing().empty())
    return absl::UnavailableError(absl::StrCat(
        "the CUDA driver (libcuda.so.1) lacks ", bind.missing(),
        "; Kiln needs a driver for CUDA 12 or newer"));

  CUresult r = api.cuInit(0);
  if (r == CUDA_ERROR_NO_DEVICE)
    return absl::UnavailableError(
        absl::StrCat("no CUDA device (cuInit: ", api.errorText(r), ")"));
  if (r != CUDA_SUCCESS)
    return absl::UnavailableError(
        absl::StrCat("no CUDA device: the driver failed to initialise (cuInit: ",
                     api.errorText(r), ")"));
  int count = 0;
  r = api.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0)
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device (the driver reports ", count, " devices",
        r == CUDA_SUCCESS ? "" : absl::StrCat("; ", api.errorText(r)), ")"));
  return api;
}

} // namespace

absl::StatusOr<const CudaApi *> loadCudaApi() {
  // Function-local static: thread-safe, one dlopen and one cuInit per process.
  static const absl::StatusOr<CudaApi> api = load();
  if (!api.ok())
    return api.status();
  return &*api;
}

} // namespace kiln::cuda
