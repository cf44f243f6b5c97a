// dlopen/dlsym of cuBLAS for the opt-in matmul provider.
#include "executor/cuda/CublasApi.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "executor/cuda/SymbolBinder.h"
#include "absl/strings/str_join.h"

namespace kiln::cuda {

absl::Status CublasApi::check(cublasStatus_t status, absl::string_view what) const {
  if (status == CUBLAS_STATUS_SUCCESS)
    return absl::OkStatus();
  const char *text = cublasGetStatusString ? cublasGetStatusString(status) : nullptr;
  return absl::InternalError(
      absl::StrCat(what, ": ", text ? text : "CUBLAS_STATUS_UNKNOWN", " (", status, ")"));
}

std::vector<std::string> cublasCandidates() {
  if (const char *path = std::getenv("KILN_CUBLAS_LIBRARY"); path && *path)
    return {path};
  return {"libcublas.so.13", "libcublas.so.12", "/usr/local/cuda/lib64/libcublas.so"};
}

absl::StatusOr<CublasApi> openCublas(const std::vector<std::string> &candidates) {
  std::vector<std::string> tried;
  void *lib = nullptr;
  std::string opened;
  for (const std::string &name : candidates) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      opened = name;
      break;
    }
    const char *why = dlerror();
    tried.push_back(absl::StrCat(name, " (", why ? why : "dlopen failed", ")"));
  }
  if (!lib)
    return absl::UnavailableError(absl::StrCat(
        "cuBLAS could not be loaded for the matmul provider; tried ", absl::StrJoin(tried, "; "),
        ". Set KILN_CUBLAS_LIBRARY to the library's path, or compile without "
        "--provider=matmul=cublas"));
  CublasApi api{};
  api.libraryPath = opened;
  SymbolBinder bind(lib);
  bind(api.cublasCreate, "cublasCreate_v2");
  bind(api.cublasDestroy, "cublasDestroy_v2");
  bind(api.cublasSetStream, "cublasSetStream_v2");
  bind(api.cublasSetWorkspace, "cublasSetWorkspace_v2");
  bind(api.cublasGetStatusString, "cublasGetStatusString");
  bind(api.cublasGemmStridedBatchedEx, "cublasGemmStridedBatchedEx");
  if (!bind.missing().empty())
    return absl::UnavailableError(
        absl::StrCat(opened, " lacks ", bind.missing(), " (Kiln needs cuBLAS 12 or newer)"));
  return api;
}

absl::StatusOr<const CublasApi *> loadCublas() {
  static std::mutex mutex;
  static CublasApi *loaded = nullptr; // never freed: outlives every handle
  std::lock_guard<std::mutex> lock(mutex);
  if (!loaded) {
    absl::StatusOr<CublasApi> api = openCublas(cublasCandidates());
    if (!api.ok())
      return api.status();
    loaded = new CublasApi(*api);
  }
  return loaded;
}

int cublasDataType(proto::DType dtype) {
  switch (dtype) {
  case proto::F32: return CUDA_R_32F;
  case proto::F64: return CUDA_R_64F;
  case proto::F16: return CUDA_R_16F;
  case proto::BF16: return CUDA_R_16BF;
  default: return -1;
  }
}

} // namespace kiln::cuda
