//===- OpsShape.cpp - reshape, transpose, slicing, gather and scatter -----===//
//
// Conveniences the ops lack (reshape's -1, negative slice bounds, a default
// stride, static update offsets) are resolved here, before the op is built.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

using namespace detail;

Tensor reshape(const Tensor &x, Shape shape, SourceLoc loc) {
  const std::string op = ir::ReshapeOp::getOperationName().str();
  int64_t inferred = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d != -1) {
      if (__builtin_mul_overflow(known, d, &known)) {
        failAt(x, loc, op,
               absl::StrCat("shape [", absl::StrJoin(shape, ", "),
                            "] has more elements than a 64-bit size holds"));
        return GraphImpl::invalidLike(x);
      }
      continue;
    }
    if (inferred >= 0) {
      failAt(x, loc, op,
             absl::StrCat("shape [", absl::StrJoin(shape, ", "),
                          "] has more than one -1"));
      return GraphImpl::invalidLike(x);
    }
    inferred = i;
  }
  if (inferred >= 0 && x.valid()) {
    int64_t count = 1;
    for (int64_t d : x.shape())
      count *= d;
    if (known <= 0 || count % known != 0) {
      failAt(x, loc, op,
             absl::StrCat("cannot reshape ", typeString(x.shape(), x.dtype()),
                          " (", count, " elements) to [",
                          absl::StrJoin(shape, ", "), "]"));
      return GraphImpl::invalidLike(x);
    }
    shape[inferred] = count / known;
  }
  return buildOne<ir::ReshapeOp>({&x}, {intsAttr("shape", shape)}, loc);
}

Tensor transpose(const Tensor &x, const std::vector<int64_t> &perm,
                 SourceLoc loc) {
  return buildOne<ir::TransposeOp>({&x}, {intsAttr("perm", perm)}, loc);
}

Tensor broadcastTo(const Tensor &x, Shape shape, SourceLoc loc) {
  return buildOne<ir::BroadcastToOp>({&x}, {intsAttr("shape", shape)}, loc);
}

Tensor slice(const Tensor &x, std::vector<int64_t> start,
             std::vector<int64_t> limit, std::vector<int64_t> stride,
             SourceLoc loc) {
  Shape shape = x.shape();
  if (stride.empty())
    stride.assign(start.size(), 1);
  // Python-style negative bounds, where they can be resolved.
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < start.size() && start[i] < 0)
      start[i] += shape[i];
    if (i < limit.size() && limit[i] < 0)
      limit[i] += shape[i];
  }
  return buildOne<ir::SliceOp>({&x},
                               {intsAttr("start", start),
                                intsAttr("limit", limit),
                                intsAttr("stride", stride)},
                               loc);
}

Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update,
                          const Tensor &start, SourceLoc loc) {
  return buildOne<ir::DynamicUpdateSliceOp>({&x, &update, &start}, {}, loc);
}

Tensor dynamicUpdateSlice(const Tensor &x, const Tensor &update,
                          const std::vector<int64_t> &start, SourceLoc loc) {
  Tensor offsets = x;
  if (Function *fn = x.function())
    offsets = constant(*fn, std::vector<double>(start.begin(), start.end()),
                       {static_cast<int64_t>(start.size())}, DType::i64, loc);
  return dynamicUpdateSlice(x, update, offsets, loc);
}

Tensor concat(const std::vector<Tensor> &xs, int64_t axis, SourceLoc loc) {
  std::vector<const Tensor *> operands;
  for (const Tensor &x : xs)
    operands.push_back(&x);
  return buildOne<ir::ConcatOp>(operands, {intAttr("axis", axis)}, loc);
}

Tensor gather(const Tensor &x, const Tensor &indices, int64_t axis,
              SourceLoc loc) {
  return buildOne<ir::GatherOp>({&x, &indices}, {intAttr("axis", axis)}, loc);
}

Tensor takeAlongAxis(const Tensor &x, const Tensor &indices, int64_t axis,
                     SourceLoc loc) {
  return buildOne<ir::TakeAlongAxisOp>({&x, &indices}, {intAttr("axis", axis)},
                                       loc);
}

Tensor putAlongAxis(const Tensor &x, const Tensor &indices,
                    const Tensor &values, int64_t axis, SourceLoc loc) {
  return buildOne<ir::PutAlongAxisOp>({&x, &indices, &values},
                                      {intAttr("axis", axis)}, loc);
}

Tensor scatterAdd(const Tensor &x, const Tensor &indices, const Tensor &updates,
                  int64_t axis, SourceLoc loc) {
  return buildOne<ir::ScatterAddOp>({&x, &indices, &updates},
                                    {intAttr("axis", axis)}, loc);
}

Tensor oneHot(const Tensor &indices, int64_t depth, DType dtype,
              SourceLoc loc) {
  return buildOne<ir::OneHotOp>(
      {&indices}, {intAttr("depth", depth), typeAttr("dtype", dtype)}, loc);
}

Tensor bincount(const Tensor &x, int64_t length, SourceLoc loc) {
  return buildOne<ir::BincountOp>({&x}, {intAttr("length", length)}, loc);
}

} // namespace kiln
