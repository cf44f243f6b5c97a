//===- OpsSelection.cpp - topk, sort and argsort --------------------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

std::pair<Tensor, Tensor> topk(const Tensor &x, int64_t k, SourceLoc loc) {
  std::vector<Tensor> results =
      buildOp<ir::TopkOp>({&x}, {intAttr("k", k)}, loc, 2);
  return {results[0], results[1]};
}

Tensor sort(const Tensor &x, int64_t axis, bool descending, SourceLoc loc) {
  return buildOne<ir::SortOp>(
      {&x}, {intAttr("axis", axis), boolAttr("descending", descending)}, loc);
}

Tensor argsort(const Tensor &x, int64_t axis, bool descending, SourceLoc loc) {
  return buildOne<ir::ArgsortOp>(
      {&x}, {intAttr("axis", axis), boolAttr("descending", descending)}, loc);
}

} // namespace kiln
