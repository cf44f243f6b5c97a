// Tensor-map checks mirror cuTensorMapEncodeTiled's documented requirements, so a bad
// Executable is refused at load with the step named instead of failing mid-run.
#include "executor/cuda/TensorMap.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/DType.h"

namespace kiln::cuda {
namespace {

/// The driver's data type, or -1 where TMA has none.
int tmaType(proto::DType t) {
  switch (t) {
  case proto::F32:
    return CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
  case proto::F64:
    return CU_TENSOR_MAP_DATA_TYPE_FLOAT64;
  case proto::F16:
    return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  case proto::BF16:
    return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  case proto::I64:
    return CU_TENSOR_MAP_DATA_TYPE_INT64;
  case proto::I32:
    return CU_TENSOR_MAP_DATA_TYPE_INT32;
  case proto::F8E4M3FN:
  case proto::F8E5M2:
  case proto::I8:
    return CU_TENSOR_MAP_DATA_TYPE_UINT8; // bytes: TMA never converts
  default:
    return -1;
  }
}

} // namespace

absl::Status validateTensorMap(const proto::TensorMap &map, const proto::EntryPoint &ep,
                               const proto::Launch &launch, absl::string_view where) {
  auto bad = [&](auto &&...parts) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": tensor map over buffer ",
                                                   map.buffer(), ": ", parts...));
  };
  if (std::find(launch.buffers().begin(), launch.buffers().end(), map.buffer()) ==
      launch.buffers().end())
    return bad("the buffer is not one of the launch's");
  if (tmaType(map.dtype()) < 0)
    return bad("dtype ", proto::DType_Name(map.dtype()), " has no tensor-map type");
  int rank = map.dims_size();
  if (rank < 1 || rank > 5)
    return bad("rank ", rank, " is outside [1, 5]");
  if (map.strides_size() != rank - 1 || map.box_size() != rank)
    return bad(rank, " dims need ", rank - 1, " strides and ", rank, " box sizes, given ",
               map.strides_size(), " and ", map.box_size());
  for (int64_t d : map.dims())
    if (d < 1 || d > (int64_t{1} << 32))
      return bad("dim ", d, " is outside [1, 2^32]");
  for (int64_t s : map.strides())
    if (s <= 0 || s % 16 != 0 || s >= (int64_t{1} << 40))
      return bad("stride ", s, " bytes is not a positive multiple of 16 below 2^40");
  for (int32_t b : map.box())
    if (b < 1 || b > 256)
      return bad("box size ", b, " is outside [1, 256]");
  int64_t elementBytes = storageBytes(map.dtype());
  int64_t rowBytes = map.box(0) * elementBytes;
  if (rowBytes % 16 != 0)
    return bad("the box's inner extent (", rowBytes, " bytes) is not a multiple of 16");
  int32_t swizzle = map.swizzle_bytes();
  if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
    return bad("swizzle ", swizzle, " bytes is not 0, 32, 64 or 128");
  if (swizzle != 0 && rowBytes > swizzle)
    return bad("the box's inner extent (", rowBytes, " bytes) exceeds the ", swizzle,
               "-byte swizzle span");
  int64_t last = map.dims(0) * elementBytes;
  for (int i = 1; i < rank; ++i)
    last += (map.dims(i) - 1) * map.strides(i - 1);
  const proto::TensorType &buffer = ep.buffers(map.buffer());
  int64_t have = storageBytes(buffer.dtype());
  for (int64_t d : buffer.shape())
    have *= d;
  if (last > have)
    return bad("dims [", absl::StrJoin(map.dims(), ", "), "] with strides [",
               absl::StrJoin(map.strides(), ", "), "] reach byte ", last, " of a ", have,
               "-byte buffer");
  return absl::OkStatus();
}

absl::Status encodeTensorMap(const CudaApi &api, const proto::TensorMap &map,
                             CUdeviceptr address, CUtensorMap *out, absl::string_view where) {
  int rank = map.dims_size();
  uint64_t dims[5], strides[4];
  uint32_t box[5], elementStrides[5];
  for (int i = 0; i < rank; ++i) {
    dims[i] = static_cast<uint64_t>(map.dims(i));
    box[i] = static_cast<uint32_t>(map.box(i));
    elementStrides[i] = 1;
  }
  for (int i = 0; i + 1 < rank; ++i)
    strides[i] = static_cast<uint64_t>(map.strides(i));
  int swizzle = map.swizzle_bytes() == 0    ? CU_TENSOR_MAP_SWIZZLE_NONE
                : map.swizzle_bytes() == 32 ? 1
                : map.swizzle_bytes() == 64 ? 2
                                            : 3;
  CUresult r = api.cuTensorMapEncodeTiled(
      out, tmaType(map.dtype()), static_cast<uint32_t>(rank),
      reinterpret_cast<void *>(address), dims, strides, box, elementStrides,
      CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  return api.check(r, absl::StrCat(where, ": cuTensorMapEncodeTiled over buffer ", map.buffer()));
}

} // namespace kiln::cuda
