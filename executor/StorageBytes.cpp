// Bits and bytes per stored element of each DType: the one table of that fact.
// It sits with the Executable format (KilnExecutableProto), so the compiler
// sizes buffers and literals without linking the executor.
#include "executor/DType.h"

namespace kiln {

int64_t storageBytes(proto::DType type) {
  switch (type) {
  case proto::F64:
  case proto::I64:
    return 8;
  case proto::F32:
  case proto::I32:
    return 4;
  case proto::F16:
  case proto::BF16:
    return 2;
  case proto::F8E4M3FN:
  case proto::F8E5M2:
  case proto::I8:
  case proto::I4:
  case proto::I1:
    return 1;
  default:
    return 0;
  }
}

int64_t storageBits(proto::DType type) {
  return type == proto::I4 ? 4 : 8 * storageBytes(type);
}

int64_t bufferBytes(proto::DType type, int64_t numElements) {
  int64_t bits = storageBits(type);
  if (bits % 8 == 0)
    return numElements * (bits / 8);
  int64_t perByte = 8 / bits;
  return numElements / perByte + (numElements % perByte != 0);
}

int64_t bufferBytes(const proto::TensorType &type) {
  int64_t n = 1;
  for (int64_t d : type.shape())
    n *= d;
  return bufferBytes(type.dtype(), n);
}

} // namespace kiln
