//===- NcclApi.h - NCCL, loaded at run time ---------------------*- C++ -*-===//
//
// NCCL is not linked: libnccl.so.2 is dlopen'ed when a GPU world is joined
// (on the GPU machines it comes with PyTorch's nvidia-nccl package), so every
// Kiln binary starts without it. KILN_NCCL_LIBRARY names the file to load.
// The few NCCL types are declared here, ABI-identical to nccl.h.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_EXECUTOR_CUDA_NCCLAPI_H
#define KILN_EXECUTOR_CUDA_NCCLAPI_H

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "executor/cuda/CudaApi.h"

namespace kiln::cuda {

using ncclResult_t = int;
using ncclComm_t = struct ncclComm *;
using ncclDataType_t = int;
struct ncclUniqueId {
  char internal[128];
};
inline constexpr ncclResult_t ncclSuccess = 0;
inline constexpr ncclResult_t ncclInProgress = 7;
inline constexpr ncclDataType_t ncclInt8 = 0;

struct NcclApi {
  ncclResult_t (*ncclGetVersion)(int *version);
  ncclResult_t (*ncclGetUniqueId)(ncclUniqueId *id);
  ncclResult_t (*ncclCommInitRank)(ncclComm_t *comm, int nranks,
                                   ncclUniqueId id, int rank);
  ncclResult_t (*ncclCommDestroy)(ncclComm_t comm);
  ncclResult_t (*ncclCommAbort)(ncclComm_t comm);
  ncclResult_t (*ncclCommGetAsyncError)(ncclComm_t comm,
                                        ncclResult_t *asyncError);
  const char *(*ncclGetErrorString)(ncclResult_t result);
  ncclResult_t (*ncclAllGather)(const void *send, void *recv, size_t count,
                                ncclDataType_t type, ncclComm_t comm,
                                CUstream stream);
  ncclResult_t (*ncclSend)(const void *send, size_t count,
                           ncclDataType_t type, int peer, ncclComm_t comm,
                           CUstream stream);
  ncclResult_t (*ncclRecv)(void *recv, size_t count, ncclDataType_t type,
                           int peer, ncclComm_t comm, CUstream stream);
  ncclResult_t (*ncclGroupStart)();
  ncclResult_t (*ncclGroupEnd)();

  /// The file loaded, and NCCL's version as "2.27.3".
  std::string library, version;

  /// OK, or "<what>: <NCCL's message> (code N)".
  absl::Status check(ncclResult_t result, const std::string &what) const;
};

/// Loads NCCL once per process: KILN_NCCL_LIBRARY when set, else
/// libnccl.so.2 from the loader's path. A missing library is an error that
/// says which file and how to provide it.
absl::StatusOr<const NcclApi *> loadNcclApi();

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_NCCLAPI_H
