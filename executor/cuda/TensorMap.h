// Tensor maps (CUtensorMap) for the Hopper bulk tensor copy engine: checked when an
// Executable is loaded, encoded from a buffer's device address at each launch.
#ifndef KILN_EXECUTOR_CUDA_TENSORMAP_H
#define KILN_EXECUTOR_CUDA_TENSORMAP_H

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "executor/cuda/CudaApi.h"
#include "executor/executable.pb.h"

namespace kiln::cuda {

/// The limits cuTensorMapEncodeTiled sets (rank, box sizes, 16-byte strides, the
/// swizzle span), and that the map stays inside its buffer, which must be one of
/// the launch's. Messages start with `where`.
absl::Status validateTensorMap(const proto::TensorMap &map, const proto::EntryPoint &ep,
                               const proto::Launch &launch, absl::string_view where);

/// Encodes `map` over the bytes at `address` (16-byte aligned).
absl::Status encodeTensorMap(const CudaApi &api, const proto::TensorMap &map,
                             CUdeviceptr address, CUtensorMap *out, absl::string_view where);

} // namespace kiln::cuda

#endif // KILN_EXECUTOR_CUDA_TENSORMAP_H
