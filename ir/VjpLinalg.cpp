//===- VjpLinalg.cpp - gradients of matmul and grouped_matmul -------------===//
//
// Each gradient is itself a (grouped) matmul; the transpose flags absorb every
// transpose, so no layout copies are emitted.
//
//===----------------------------------------------------------------------===//

#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

namespace {

/// [..., R, C] -> [prod(...) * R, C].
Value foldBatchIntoRows(PrimitiveBuilder &pb, Value x) {
  ArrayRef<int64_t> shape = PrimitiveBuilder::shapeOf(x);
  return pb.reshape(
      x, {PrimitiveBuilder::typeOf(x).getNumElements() / shape.back(),
          shape.back()});
}

} // namespace

KILN_VJP(MatmulOp) {
  if (!isFloatTensor(getA())) {
    operandGrads.append(2, Value());
    return success();
  }
  // With A' = op(A) and B' = op(B): dA' = g B'^T and dB' = A'^T g; a transposed
  // operand takes the transpose of its gradient, which swaps the product.
  PrimitiveBuilder pb(builder, getLoc());
  Value a = getA(), b = getB(), g = resultGrads[0];
  bool ta = getTransposeA(), tb = getTransposeB();
  RankedTensorType aType = getA().getType(), bType = getB().getType();

  Value da = ta ? pb.matmul(b, g, tb, true) : pb.matmul(g, b, false, !tb);

  Value db;
  if (bType.getRank() == 2 && aType.getRank() > 2 && !ta) {
    // A rank-2 b (a weight) shared by every batch of a: its gradient sums over
    // the batch, which is one matmul over all rows rather than a batched one
    // and a reduction.
    Value aRows = foldBatchIntoRows(pb, a), gRows = foldBatchIntoRows(pb, g);
    db = tb ? pb.matmul(gRows, aRows, true, false)
            : pb.matmul(aRows, gRows, true, false);
  } else {
    db = tb ? pb.matmul(g, a, true, ta) : pb.matmul(a, g, !ta, false);
  }
  // Batch dims that broadcast (absent or 1) are summed back to the operand's.
  operandGrads.push_back(unbroadcast(pb, da, aType));
  operandGrads.push_back(unbroadcast(pb, db, bType));
  return success();
}

KILN_VJP(GroupedMatmulOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getX(), w = getW(), offsets = getOffsets(), g = resultGrads[0];
  auto grouped = [&](Value lhs, Value rhs, GroupedMatmulMode mode,
                     bool transposeW) {
    return pb.op<GroupedMatmulOp>(
        {lhs, rhs, offsets},
        {builder.getNamedAttr(
             "mode", GroupedMatmulModeAttr::get(builder.getContext(), mode)),
         builder.getNamedAttr("transpose_w", builder.getBoolAttr(transposeW))});
  };
  // Both modes give rows outside every group (past offsets[E-1]) a zero
  // gradient, as the forward ignores them.
  if (getMode() == GroupedMatmulMode::rows) {
    // y_t = x_t W_e with W_e = w[e] (w[e]^T when transpose_w):
    //   dx_t = g_t W_e^T, a rows product with the flag flipped;
    //   dW_e = x_e^T g_e, exactly the contract mode; with transpose_w,
    //   dw[e] = (x_e^T g_e)^T = g_e^T x_e, the contract with its operands
    //   swapped (the same products summed in the same row order, no transpose).
    bool tw = getTransposeW();
    constexpr auto rows = GroupedMatmulMode::rows;
    constexpr auto contract = GroupedMatmulMode::contract;
    operandGrads.push_back(grouped(g, w, rows, !tw));
    operandGrads.push_back(tw ? grouped(g, x, contract, false)
                              : grouped(x, g, contract, false));
  } else {
    // Z_e = x_e^T d_e (d is the `w` operand, [T, N]); with G_e = dL/dZ_e:
    //   dx_t = d_t G_e^T and dd_t = x_t G_e, two rows products.
    operandGrads.push_back(grouped(w, g, GroupedMatmulMode::rows, true));
    operandGrads.push_back(grouped(x, g, GroupedMatmulMode::rows, false));
  }
  operandGrads.push_back({}); // offsets are integers
  return success();
}

} // namespace kiln::ir
