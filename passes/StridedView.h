//===- StridedView.h - remap chains that are strided views -------*- C++
//-*-===//
//
// A chain of reshapes, transposes and slices reads its source's elements at
// positions an affine map of the index gives: a strided view (shape, strides
// and an offset, in elements of the source's row-major layout). A kernel that
// reads an operand through a descriptor with strides (a Hopper tensor map)
// can read the view where it lies, so the chain is never materialised: the
// absorbed MLA's head-major operands (q's no-RoPE part, the attention output)
// are views of the projections that wrote them. kiln-form-fusions and the ptx
// kernel table share here which chains are views.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_STRIDEDVIEW_H
#define KILN_PASSES_STRIDEDVIEW_H

#include <optional>

#include "ir/KilnOps.h"
#include "llvm/ADT/SmallVector.h"

namespace kiln::passes {

struct StridedView {
  /// The first value up the chain that is not a remap's result.
  mlir::Value base;
  /// The view's element (i0, i1, ...) is base's flat element offset +
  /// sum(i_d * strides[d]).
  llvm::SmallVector<int64_t> shape, strides;
  int64_t offset = 0;
  /// The remaps, the view's producer first: each read only by the next.
  llvm::SmallVector<mlir::Operation *> ops;
};

/// The view `remaps` (reshapes, transposes and slices, each reading the
/// previous one's result, the first reading `base`) make of `base`, if they
/// move no element; its ops are the remaps, the last first.
std::optional<StridedView>
stridedView(mlir::Value base, llvm::ArrayRef<mlir::Operation *> remaps);

/// The chain of single-use remaps above `v` (v itself read only by one op),
/// as stridedView() sees it; nothing when `v` is not a remap's result or
/// the chain moves an element.
std::optional<StridedView> stridedViewOf(mlir::Value v);

} // namespace kiln::passes

#endif // KILN_PASSES_STRIDEDVIEW_H
