//===- WeightedCombine.h - routing weights applied inside moe_combine -*- C++
//-*-===//
//
// A MoE layer scales each routed row by its token's routing weight before
// kiln.moe_combine sums a token's rows:
//
//   w   = reshape(gather(weights [T*k], order), [T*k, 1])
//   out = moe_combine(cast(mul(cast(y, f32), w), bf16), order, slot)
//
// The combine kernel can apply the weight itself as it reads each row (the
// weight of pair p is weights[order[p]]), rounding the product to the rows'
// type exactly where the separate kernel would: the gather and the scaled
// copy of the rows are never launched or written. kiln-form-fusions and the
// kernel table share here which combines take that form.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_WEIGHTEDCOMBINE_H
#define KILN_PASSES_WEIGHTEDCOMBINE_H

#include <optional>

#include "ir/KilnOps.h"
#include "llvm/ADT/SmallVector.h"

namespace kiln::passes {

/// The ops between a moe_combine's rows and the unscaled rows and weights.
struct WeightedCombineRows {
  mlir::Value rows;    // y [T*k, H], as the expert GEMM wrote it
  mlir::Value weights; // [T*k], indexed by order (before the gather)
  /// The product's element type (the mul's), and whether y is cast to it and
  /// the product cast back to the combine's rows type (the casts present).
  mlir::Type product;
  bool castRows = false, castProduct = false;
  /// Every op of the chain (casts, mul, reshape, gather), each read only
  /// inside it: the ops the combine's region takes.
  llvm::SmallVector<mlir::Operation *> ops;
};

/// The chain above for `combine`'s rows, gathered with `combine`'s own order,
/// every op single-use and float; nothing otherwise.
std::optional<WeightedCombineRows>
weightedCombineRows(ir::MoeCombineOp combine);

} // namespace kiln::passes

#endif // KILN_PASSES_WEIGHTEDCOMBINE_H
