//===- OpsReduce.cpp - reductions, softmax, cumsum and rms_norm -----------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

#define KILN_REDUCE(FN, OP)                                                    \
  Tensor FN(const Tensor &x, const Axes &axes, bool keepdims, SourceLoc loc) { \
    return buildOne<ir::OP>(                                                   \
        {&x}, {intsAttr("axes", axes), boolAttr("keepdims", keepdims)}, loc);  \
  }
KILN_REDUCE(sum, SumOp)
KILN_REDUCE(mean, MeanOp)
KILN_REDUCE(max, MaxOp)
KILN_REDUCE(min, MinOp)
KILN_REDUCE(logsumexp, LogSumExpOp)
#undef KILN_REDUCE

Tensor argmax(const Tensor &x, int64_t axis, bool keepdims, SourceLoc loc) {
  return buildOne<ir::ArgmaxOp>(
      {&x}, {intAttr("axis", axis), boolAttr("keepdims", keepdims)}, loc);
}

Tensor softmax(const Tensor &x, int64_t axis, SourceLoc loc) {
  return buildOne<ir::SoftmaxOp>({&x}, {intAttr("axis", axis)}, loc);
}

Tensor logSoftmax(const Tensor &x, int64_t axis, SourceLoc loc) {
  return buildOne<ir::LogSoftmaxOp>({&x}, {intAttr("axis", axis)}, loc);
}

Tensor cumsum(const Tensor &x, int64_t axis, bool exclusive, bool reverse,
              SourceLoc loc) {
  return buildOne<ir::CumsumOp>({&x},
                                {intAttr("axis", axis),
                                 boolAttr("exclusive", exclusive),
                                 boolAttr("reverse", reverse)},
                                loc);
}

Tensor rmsNorm(const Tensor &x, const Tensor &weight, double eps,
               SourceLoc loc) {
  return buildOne<ir::RmsNormOp>({&x, &weight}, {floatAttr("eps", eps)}, loc);
}

} // namespace kiln
