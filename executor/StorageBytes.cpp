// Bytes per stored element of each DType: the one table of that fact. It sits
// with the Executable format (KilnExecutableProto), so the compiler sizes
// buffers and literals without linking the executor.
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

} // namespace kiln
