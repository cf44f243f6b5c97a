//===- OpsCollective.cpp - all_reduce, all_gather, reduce_scatter, all_to_all //

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

Tensor allReduce(const Tensor &x, const std::string &reduction, int64_t ranks,
                 SourceLoc loc) {
  return buildOne<ir::AllReduceOp>(
      {&x}, {strAttr("reduction", reduction), intAttr("group_size", ranks)},
      loc);
}

Tensor allGather(const Tensor &x, int64_t axis, int64_t ranks, SourceLoc loc) {
  return buildOne<ir::AllGatherOp>(
      {&x}, {intAttr("axis", axis), intAttr("group_size", ranks)}, loc);
}

Tensor reduceScatter(const Tensor &x, int64_t axis, int64_t ranks,
                     SourceLoc loc) {
  return buildOne<ir::ReduceScatterOp>(
      {&x}, {intAttr("axis", axis), intAttr("group_size", ranks)}, loc);
}

std::pair<Tensor, Tensor> allToAll(const Tensor &x, const Tensor &sendCounts,
                                   int64_t capacity, int64_t ranks,
                                   SourceLoc loc) {
  auto results = buildOp<ir::AllToAllOp>(
      {&x, &sendCounts},
      {intAttr("capacity", capacity), intAttr("group_size", ranks)}, loc, 2);
  return {results[0], results[1]};
}

} // namespace kiln
