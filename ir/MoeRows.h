//===- MoeRows.h - the primitives behind the fused MoE ops -------*- C++
//-*-===//
//
// How the sorted rows of a moe_plan relate to tokens and routing weights,
// written once for the gradient rules (ir/VjpMoe.cpp) and the decompositions
// of the fused ops into primitives (passes/DecomposeMoe.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_MOEROWS_H
#define KILN_IR_MOEROWS_H

#include "ir/PrimitiveBuilder.h"

namespace kiln::ir {

/// The token of each sorted row: order / topK.
mlir::Value moeTokenOfRows(PrimitiveBuilder &pb, mlir::Value order,
                           int64_t topK);

/// x's row for each sorted row: gather(x, order / topK) [T*k, ...].
mlir::Value moeGatherRows(PrimitiveBuilder &pb, mlir::Value x,
                          mlir::Value order, int64_t topK);

/// The routing weight of each sorted row, [T*k] in weights' type.
mlir::Value moeRowWeights(PrimitiveBuilder &pb, mlir::Value weights,
                          mlir::Value order);

/// slot [T, k] from order: the inverse permutation, by an integer scatter_add
/// in which every position is written once (exact on every target).
mlir::Value moeSlotFromOrder(PrimitiveBuilder &pb, mlir::Value order,
                             int64_t tokens, int64_t topK);

/// One kiln.grouped_matmul.
mlir::Value moeGrouped(PrimitiveBuilder &pb, mlir::Value x, mlir::Value w,
                       mlir::Value offsets, bool contract, bool transposeW);

/// kiln.moe_combine of rows [T*k, H].
mlir::Value moeCombine(PrimitiveBuilder &pb, mlir::Value rows,
                       mlir::Value order, mlir::Value slot);

} // namespace kiln::ir

#endif // KILN_IR_MOEROWS_H
