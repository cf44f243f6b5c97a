//===- VjpMoe.cpp - gradients of the fused MoE ops ------------------------===//
//
// The backward of a fused MoE layer in the same sorted-row space as its
// forward: every weight gradient is a grouped contract over the expert's rows,
// and every gradient that returns to tokens goes through moe_combine (a fixed
// summation order), never through scatter_add's float atomics.
//
//===----------------------------------------------------------------------===//

#include "ir/MoeRows.h"
#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

namespace {

Value mul(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<MulOp>({a, b});
}
Value add(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<AddOp>({a, b});
}

/// a + b where either may be absent (no cotangent).
Value addOptional(PrimitiveBuilder &pb, Value a, Value b) {
  if (!a)
    return b;
  return b ? add(pb, a, b) : a;
}

} // namespace

KILN_VJP(MoeRouteOp) {
  // The experts are a choice, not a function of the scores: the gradient
  // reaches scores through w = scale * s_e / (sum s_e + eps) only, and bias
  // (which only steers the choice) gets none.
  if (!resultGrads[1]) {
    operandGrads.append(2, Value());
    return success();
  }
  PrimitiveBuilder pb(builder, getLoc());
  Type element = getScores().getType().getElementType();
  Value g = resultGrads[1];
  if (getScaling().convertToDouble() != 1.0)
    g = mul(pb, g, pb.scalar(element, getScaling().convertToDouble()));
  if (getNormalize()) {
    // y_j = s_j / d with d = sum_i s_i + eps: d s_j = g_j / d - sum_i g_i y_i
    // / d.
    Value chosen = pb.op<TakeAlongAxisOp>(
        {getScores(), getExperts()},
        {builder.getNamedAttr("axis", builder.getI64IntegerAttr(1))});
    Value d = add(pb, pb.sumKeep(chosen, 1),
                  pb.scalar(element, getEpsilon().convertToDouble()));
    Value y = pb.op<DivOp>({chosen, d});
    Value back = pb.op<DivOp>({pb.sumKeep(mul(pb, g, y), 1), d});
    g = pb.op<SubOp>({pb.op<DivOp>({g, d}), back});
  }
  operandGrads.push_back(
      takeAlongAxisGrad(pb, getScores().getType(), getExperts(), 1, g));
  operandGrads.push_back(Value());
  return success();
}

KILN_VJP(MoeGateUpOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getTokens(), order = getOrder(), offsets = getOffsets();
  RankedTensorType xType = getTokens().getType();
  Type element = xType.getElementType();
  Type compute = pb.computeType(element);
  int64_t tokens = xType.getDimSize(0);
  int64_t topK = getOrder().getType().getDimSize(0) / tokens;

  // act = silu(g) u from the rounded g and u: d g = d act u silu'(g) and
  // d u = d act silu(g), in the compute type; the results' own cotangents add.
  Value dGate = resultGrads[1] ? pb.cast(resultGrads[1], compute) : Value();
  Value dUp = resultGrads[2] ? pb.cast(resultGrads[2], compute) : Value();
  if (resultGrads[0]) {
    Value dAct = pb.cast(resultGrads[0], compute);
    Value g = pb.cast(getGate(), compute), u = pb.cast(getUp(), compute);
    Value s = pb.op<SigmoidOp>(g);
    Value one = pb.scalar(compute, 1.0);
    Value dSilu = mul(pb, s, add(pb, one, mul(pb, g, pb.op<SubOp>({one, s}))));
    dGate = addOptional(pb, dGate, mul(pb, dAct, mul(pb, u, dSilu)));
    dUp = addOptional(pb, dUp, mul(pb, dAct, mul(pb, g, s)));
  }
  if (!dGate && !dUp) {
    operandGrads.append(5, Value());
    return success();
  }
  RankedTensorType rowType = getGate().getType();
  dGate = dGate ? pb.cast(dGate, element) : zerosLike(pb, rowType);
  dUp = dUp ? pb.cast(dUp, element) : zerosLike(pb, rowType);

  // gate_p = x_t w_gate[e]^T: d x_t sums d gate_p w_gate[e] (and the same for
  // up) over the token's k rows; d w_gate[e] = d gate_e^T x_e.
  Value dRows =
      add(pb, moeGrouped(pb, dGate, getWGate(), offsets, false, false),
          moeGrouped(pb, dUp, getWUp(), offsets, false, false));
  Value slot = moeSlotFromOrder(pb, order, tokens, topK);
  Value rows = moeGatherRows(pb, x, order, topK);
  operandGrads.push_back(moeCombine(pb, dRows, order, slot));
  operandGrads.push_back(moeGrouped(pb, dGate, rows, offsets, true, false));
  operandGrads.push_back(moeGrouped(pb, dUp, rows, offsets, true, false));
  operandGrads.append(2, Value()); // order, offsets
  return success();
}

KILN_VJP(MoeDownOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value act = getAct(), order = getOrder(), slot = getSlot();
  Value offsets = getOffsets(), dy = resultGrads[0];
  Type element = getAct().getType().getElementType();
  Type compute = pb.computeType(element);
  RankedTensorType slotType = getSlot().getType();
  int64_t tokens = slotType.getDimSize(0), topK = slotType.getDimSize(1);
  int64_t pairs = tokens * topK;

  // r_p = w_p act_p w_down[e]^T and y_t = sum of its rows:
  //   g_p = dy_t w_down[e] (the unweighted row gradient), d act_p = w_p g_p,
  //   d w_p = g_p . act_p, d w_down[e] = (w dy)_e^T act_e.
  Value dyRows = moeGatherRows(pb, dy, order, topK);
  Value g = pb.cast(moeGrouped(pb, dyRows, getWDown(), offsets, false, false),
                    compute);
  Value w = pb.reshape(pb.cast(moeRowWeights(pb, getWeights(), order), compute),
                       {pairs, 1});
  operandGrads.push_back(pb.cast(mul(pb, g, w), element));
  Value weighted = pb.cast(mul(pb, pb.cast(dyRows, compute), w), element);
  operandGrads.push_back(moeGrouped(pb, weighted, act, offsets, true, false));
  Value dwRows = pb.op<SumOp>(
      {mul(pb, g, pb.cast(act, compute))},
      {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({1})),
       builder.getNamedAttr("keepdims", builder.getBoolAttr(false))});
  Value dw = pb.op<GatherOp>(
      {dwRows, pb.reshape(slot, {pairs})},
      {builder.getNamedAttr("axis", builder.getI64IntegerAttr(0))});
  Type weightType = getWeights().getType().getElementType();
  operandGrads.push_back(pb.cast(pb.reshape(dw, {tokens, topK}), weightType));
  operandGrads.append(3, Value()); // order, slot, offsets
  return success();
}

KILN_VJP(MoeCombineOp) {
  // The transpose of summing each token's rows: every row takes its token's
  // cotangent.
  PrimitiveBuilder pb(builder, getLoc());
  int64_t topK = getSlot().getType().getDimSize(1);
  operandGrads.push_back(moeGatherRows(pb, resultGrads[0], getOrder(), topK));
  operandGrads.append(2, Value());
  return success();
}

} // namespace kiln::ir
