// cuBLAS, loaded at run time with dlopen, for the opt-in per-op provider (kiln-compile
// --provider=matmul=cublas): a Kiln binary never links it, and an Executable that asks
// for it on a machine without it fails to load with a message naming what was tried.
#ifndef KILN_EXECUTOR_CUDA_CUBLASAPI_H
#define KILN_EXECUTOR_CUDA_CUBLASAPI_H

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "executor/cuda/CudaApi.h"
#include "executor/executable.pb.h"

namespace kiln::cuda {

// The cuBLAS types and constants Kiln uses, ABI-identical to cublas_api.h and
// library_types.h (the runtime builds without the CUDA toolkit).
using cublasHandle_t = struct cublasContext *;
using cublasStatus_t = int;
inline constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
inline constexpr int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
inline constexpr int CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2, CUDA_R_16BF = 14;
inline constexpr int CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_64F = 70;
inline constexpr int CUBLAS_GEMM_DEFAULT = -1;

struct CublasApi {
  cublasStatus_t (*cublasCreate)(cublasHandle_t *handle);
  cublasStatus_t (*cublasDestroy)(cublasHandle_t handle);
  cublasStatus_t (*cublasSetStream)(cublasHandle_t handle, CUstream stream);
  cublasStatus_t (*cublasSetWorkspace)(cublasHandle_t handle, void *workspace, size_t bytes);
  const char *(*cublasGetStatusString)(cublasStatus_t status);
  cublasStatus_t (*cublasGemmStridedBatchedEx)(
      cublasHandle_t handle, int transa, int transb, int m, int n, int k, const void *alpha,
      const void *a, int aType, int lda, long long strideA, const void *b, int bType, int ldb,
      long long strideB, const void *beta, void *c, int cType, int ldc, long long strideC,
      int batchCount, int computeType, int algo);
  std::string libraryPath; // what was opened

  /// "<what>: CUBLAS_STATUS_... (<code>)" unless `status` is success.
  absl::Status check(cublasStatus_t status, absl::string_view what) const;
};

/// The library names tried, in order: $KILN_CUBLAS_LIBRARY when set (then only it),
/// else libcublas.so.13, libcublas.so.12, /usr/local/cuda/lib64/libcublas.so.
std::vector<std::string> cublasCandidates();

/// Opens the first of `candidates` that loads and binds every entry point Kiln
/// uses; the error names each candidate and why it failed. Uncached.
absl::StatusOr<CublasApi> openCublas(const std::vector<std::string> &candidates);

/// Opens cuBLAS (openCublas of cublasCandidates()) once per process (the first successful load is cached; a failure is
/// retried on the next call, so setting KILN_CUBLAS_LIBRARY later can still help).
absl::StatusOr<const CublasApi *> loadCublas();

/// The cuBLAS data type of a Kiln dtype, or -1 when cuBLAS has no GEMM for it.
int cublasDataType(proto::DType dtype);

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_CUBLASAPI_H
