//===- StridedView.cpp - remap chains that are strided views --------------===//

#include "passes/StridedView.h"

using namespace mlir;

namespace kiln::passes {
namespace {

struct View {
  SmallVector<int64_t> shape, strides;
  int64_t offset = 0;
};

/// `view` reshaped to `to` without moving an element, if its strides allow:
/// each run of source dims that merges into (or splits from) a run of
/// result dims must itself be contiguous (numpy's no-copy reshape).
std::optional<View> reshape(const View &view, ArrayRef<int64_t> to) {
  // Size-1 dims take any stride: drop them from the source.
  SmallVector<int64_t> shape, strides;
  for (auto [size, stride] : llvm::zip(view.shape, view.strides))
    if (size != 1) {
      shape.push_back(size);
      strides.push_back(stride);
    }
  View out{SmallVector<int64_t>(to), SmallVector<int64_t>(to.size(), 0),
           view.offset};
  size_t i = 0, j = 0;
  while (j < to.size()) {
    if (to[j] == 1) {
      out.strides[j++] = 0;
      continue;
    }
    if (i == shape.size())
      return std::nullopt;
    size_t i0 = i, j0 = j;
    int64_t have = shape[i], want = to[j];
    while (have != want) {
      if (have < want) {
        if (++i == shape.size())
          return std::nullopt;
        have *= shape[i];
      } else {
        if (++j == to.size())
          return std::nullopt;
        want *= to[j];
      }
    }
    // Source dims i0..i merge: each must step over the next one's extent.
    for (size_t k = i0; k < i; ++k)
      if (strides[k] != strides[k + 1] * shape[k + 1])
        return std::nullopt;
    int64_t stride = strides[i];
    for (size_t k = j + 1; k-- > j0;) {
      out.strides[k] = stride;
      stride *= to[k];
    }
    ++i;
    ++j;
  }
  if (i != shape.size())
    return std::nullopt;
  return out;
}

} // namespace

std::optional<StridedView> stridedViewOf(Value v) {
  if (!v.hasOneUse())
    return std::nullopt;
  SmallVector<Operation *> ops;
  Value base = v;
  while (Operation *op = base.getDefiningOp()) {
    if (!llvm::isa<ir::ReshapeOp, ir::TransposeOp, ir::SliceOp>(op) ||
        (!ops.empty() && !base.hasOneUse()))
      break;
    ops.push_back(op);
    base = op->getOperand(0);
  }
  if (ops.empty())
    return std::nullopt;
  std::reverse(ops.begin(), ops.end());
  return stridedView(base, ops);
}

std::optional<StridedView> stridedView(Value base,
                                       ArrayRef<Operation *> remaps) {
  auto baseType = llvm::cast<RankedTensorType>(base.getType());
  if (!baseType.hasStaticShape())
    return std::nullopt;
  View view{SmallVector<int64_t>(baseType.getShape()), {}, 0};
  view.strides.assign(view.shape.size(), 1);
  for (size_t d = view.shape.size(); d-- > 1;)
    view.strides[d - 1] = view.strides[d] * view.shape[d];
  for (Operation *op : remaps) {
    if (auto r = llvm::dyn_cast<ir::ReshapeOp>(op)) {
      std::optional<View> next = reshape(view, r.getShape());
      if (!next)
        return std::nullopt;
      view = *next;
    } else if (auto t = llvm::dyn_cast<ir::TransposeOp>(op)) {
      View next{{}, {}, view.offset};
      for (int64_t d : t.getPerm()) {
        next.shape.push_back(view.shape[d]);
        next.strides.push_back(view.strides[d]);
      }
      view = next;
    } else if (auto s = llvm::dyn_cast<ir::SliceOp>(op)) {
      for (size_t d = 0; d < view.shape.size(); ++d) {
        int64_t start = s.getStart()[d], step = s.getStride()[d];
        view.offset += start * view.strides[d];
        view.shape[d] = (s.getLimit()[d] - start + step - 1) / step;
        view.strides[d] *= step;
      }
    } else {
      return std::nullopt;
    }
  }
  SmallVector<Operation *> ops(llvm::reverse(remaps));
  return StridedView{base, view.shape, view.strides, view.offset, ops};
}

} // namespace kiln::passes
