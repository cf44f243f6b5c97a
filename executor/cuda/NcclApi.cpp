//===- NcclApi.cpp - NCCL, loaded at run time -----------------------------===//

#include "executor/cuda/NcclApi.h"

#include <dlfcn.h>

#include <cstdlib>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "executor/cuda/SymbolBinder.h"

namespace kiln::cuda {

absl::Status NcclApi::check(ncclResult_t result,
                            const std::string &what) const {
  if (result == ncclSuccess)
    return absl::OkStatus();
  const char *text = ncclGetErrorString ? ncclGetErrorString(result) : nullptr;
  return absl::UnavailableError(absl::StrCat(
      what, ": ", text ? text : "unknown NCCL error", " (code ", result, ")"));
}

namespace {

absl::StatusOr<NcclApi> load() {
  const char *named = std::getenv("KILN_NCCL_LIBRARY");
  std::string library = named && *named ? named : "libnccl.so.2";
  void *lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return absl::UnavailableError(absl::StrCat(
        "cannot load NCCL (", library, "): ", why ? why : "dlopen failed",
        ". Install it (pip install nvidia-nccl-cu13 puts libnccl.so.2 under "
        "site-packages/nvidia/nccl/lib) and set KILN_NCCL_LIBRARY to that "
        "file, or add its folder to LD_LIBRARY_PATH"));
  }
  NcclApi api{};
  api.library = library;
  SymbolBinder bind(lib);
  bind(api.ncclGetVersion, "ncclGetVersion");
  bind(api.ncclGetUniqueId, "ncclGetUniqueId");
  bind(api.ncclCommInitRank, "ncclCommInitRank");
  bind(api.ncclCommDestroy, "ncclCommDestroy");
  bind(api.ncclCommAbort, "ncclCommAbort");
  bind(api.ncclCommGetAsyncError, "ncclCommGetAsyncError");
  bind(api.ncclGetErrorString, "ncclGetErrorString");
  bind(api.ncclAllGather, "ncclAllGather");
  bind(api.ncclSend, "ncclSend");
  bind(api.ncclRecv, "ncclRecv");
  bind(api.ncclGroupStart, "ncclGroupStart");
  bind(api.ncclGroupEnd, "ncclGroupEnd");
  if (!bind.missing().empty())
    return absl::UnavailableError(absl::StrCat(
        library, " is not a usable NCCL: it lacks ", bind.missing(),
        " (Kiln needs NCCL 2.7 or newer)"));
  int version = 0;
  if (api.ncclGetVersion(&version) != ncclSuccess)
    return absl::UnavailableError(
        absl::StrCat(library, ": ncclGetVersion failed"));
  // NCCL_VERSION_CODE: major * 10000 + minor * 100 + patch since 2.9.
  api.version = absl::StrCat(version / 10000, ".", version / 100 % 100, ".",
                             version % 100);
  return api;
}

} // namespace

absl::StatusOr<const NcclApi *> loadNcclApi() {
  static const absl::StatusOr<NcclApi> api = load();
  if (!api.ok())
    return api.status();
  return &*api;
}

} // namespace kiln::cuda
