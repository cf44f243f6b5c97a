//===- VjpModel.cpp - gradients of the model composites -------------------===//
//
// Vector-Jacobian products of rotary, attention, cross_entropy and
// token_logprobs, computed in f32 for narrow types as their forwards are.
//
//===----------------------------------------------------------------------===//

#include "ir/AttentionMask.h"
#include "ir/Vjp.h"

#include <functional>

using namespace mlir;

namespace kiln::ir {

KILN_VJP(RotaryOp) {
  // The rotation is orthogonal, so x's gradient is g rotated back (-theta):
  //   da = ga cos + gb sin,  db = gb cos - ga sin.
  // cos and sin gain ga a + gb b and gb a - ga b, summed where they broadcast.
  PrimitiveBuilder pb(builder, getLoc());
  RankedTensorType type = getX().getType();
  Type element = type.getElementType(), compute = pb.computeType(element);
  int64_t rank = type.getRank(), width = type.getShape().back(),
          half = width / 2;
  Value x = pb.cast(getX(), compute), g = pb.cast(resultGrads[0], compute);
  Value cos = pb.cast(getCos(), compute), sin = pb.cast(getSin(), compute);

  // Split x and g into their pair halves exactly as the forward does.
  int64_t joinAxis;
  std::function<std::pair<Value, Value>(Value)> split;
  if (getInterleaved()) {
    // [..., D] viewed as [..., D/2, 2]; cos/sin gain the trailing unit dim.
    SmallVector<int64_t> pairs(type.getShape().drop_back());
    pairs.append({half, 2});
    split = [&, pairs](Value t) {
      Value view = pb.reshape(t, pairs);
      return std::make_pair(pb.slice(view, rank, 0, 1),
                            pb.slice(view, rank, 1, 2));
    };
    auto column = [&](Value table) {
      SmallVector<int64_t> shape(PrimitiveBuilder::shapeOf(table));
      shape.push_back(1);
      return pb.reshape(table, shape);
    };
    cos = column(cos);
    sin = column(sin);
    joinAxis = rank;
  } else {
    split = [&](Value t) {
      return std::make_pair(pb.slice(t, rank - 1, 0, half),
                            pb.slice(t, rank - 1, half, width));
    };
    joinAxis = rank - 1;
  }
  auto [a, b] = split(x);
  auto [ga, gb] = split(g);
  auto mul = [&](Value l, Value r) { return pb.op<MulOp>({l, r}); };

  Value da = pb.op<AddOp>({mul(ga, cos), mul(gb, sin)});
  Value db = pb.op<SubOp>({mul(gb, cos), mul(ga, sin)});
  Value dx = pb.reshape(pb.concat({da, db}, joinAxis), type.getShape());

  SmallVector<int64_t> halfShape(type.getShape());
  halfShape.back() = half;
  auto toTable = [&](Value d, Value table) {
    // Drop the interleaved layout's pair dim, then sum what broadcasting added.
    Value full = pb.reshape(d, halfShape);
    return pb.cast(unbroadcast(pb, full, PrimitiveBuilder::typeOf(table)),
                   element);
  };
  Value dcos = toTable(pb.op<AddOp>({mul(ga, a), mul(gb, b)}), getCos());
  Value dsin = toTable(pb.op<SubOp>({mul(gb, a), mul(ga, b)}), getSin());

  operandGrads.push_back(pb.cast(dx, element));
  operandGrads.push_back(dcos);
  operandGrads.push_back(dsin);
  return success();
}

KILN_VJP(AttentionOp) {
  // Recomputes the probabilities P (as the forward, in f32), then with
  // O = P V and S = scale q k^T:
  //   dV = P^T dO,  dP = dO V^T,  dS = P (dP - rowsum(dP P)),
  //   dq = scale dS k,  dk = scale dS^T q.
  // The G query heads of a kv head are folded into its rows (as the forward
  // does), so the GQA sum over them falls out of the matmuls. Masked keys and
  // queries that see no key have P = 0, hence zero gradient.
  PrimitiveBuilder pb(builder, getLoc());
  auto qType = PrimitiveBuilder::typeOf(getQ());
  auto kType = PrimitiveBuilder::typeOf(getK());
  auto vType = PrimitiveBuilder::typeOf(getV());
  Type element = qType.getElementType(), compute = pb.computeType(element);
  int64_t batch = qType.getDimSize(0), qHeads = qType.getDimSize(1),
          qLen = qType.getDimSize(2), qWidth = qType.getDimSize(3);
  int64_t kvHeads = kType.getDimSize(1), kLen = kType.getDimSize(2),
          vWidth = vType.getDimSize(3);
  int64_t group = qHeads / kvHeads;
  double scale = getScaleAttr().getValueAsDouble();

  Value q = pb.reshape(pb.cast(getQ(), compute),
                       {batch, kvHeads, group * qLen, qWidth});
  Value k = pb.cast(getK(), compute), v = pb.cast(getV(), compute);
  Value dOut = pb.reshape(pb.cast(resultGrads[0], compute),
                          {batch, kvHeads, group * qLen, vWidth});

  Value scores = pb.op<MulOp>(
      {pb.matmul(q, k, /*transposeB=*/true), pb.scalar(compute, scale)});
  SmallVector<int64_t> scoreShape = {batch, kvHeads};
  if (group > 1)
    scoreShape.push_back(group);
  scoreShape.append({qLen, kLen});
  scores = pb.reshape(scores, scoreShape);
  int64_t keyAxis = scoreShape.size() - 1;
  Value probs;
  if (Value visible = attentionVisibility(pb, *this, scoreShape.size())) {
    // As in the forward: rows with no visible key shift by 0 and divide by 1,
    // so their probabilities are exactly 0 rather than NaN.
    Type i64 = builder.getI64Type();
    Value masked = pb.select(visible, scores, pb.negInf(compute));
    Value anyVisible = pb.op<GreaterOp>(
        {pb.sumKeep(pb.cast(visible, i64), -1), pb.scalarInt(i64, 0)});
    Value shift = pb.select(anyVisible, pb.maxKeep(masked, keyAxis),
                            pb.scalar(compute, 0.0));
    Value e = pb.op<ExpOp>(pb.op<SubOp>({masked, shift}));
    Value total =
        pb.select(anyVisible, pb.sumKeep(e, keyAxis), pb.scalar(compute, 1.0));
    probs = pb.op<DivOp>({e, total});
  } else {
    probs = pb.op<SoftmaxOp>(
        scores,
        {builder.getNamedAttr("axis", builder.getI64IntegerAttr(keyAxis))});
  }
  probs = pb.reshape(probs, {batch, kvHeads, group * qLen, kLen});

  Value dv = pb.matmul(probs, dOut, true, false);
  Value dProbs = pb.matmul(dOut, v, false, true);
  Value rowDot = pb.sumKeep(pb.op<MulOp>({dProbs, probs}), 3);
  Value dScores =
      pb.op<MulOp>({pb.op<MulOp>({probs, pb.op<SubOp>({dProbs, rowDot})}),
                    pb.scalar(compute, scale)});
  Value dq = pb.reshape(pb.matmul(dScores, k, false, false),
                        {batch, qHeads, qLen, qWidth});
  Value dk = pb.matmul(dScores, q, true, false);

  operandGrads.push_back(pb.cast(dq, element));
  operandGrads.push_back(pb.cast(dk, element));
  operandGrads.push_back(pb.cast(dv, element));
  // valid_len and q_offset (when present) are integers.
  operandGrads.append(getNumOperands() - 3, Value());
  return success();
}

namespace {

/// cross_entropy (Negate) and token_logprobs: d log_softmax(l)[t] / dl =
/// onehot(t) - softmax(l), zero where t is outside [0, V) (the ignored rows).
template <bool Negate>
LogicalResult tokenLossVjp(Operation *op, OpBuilder &builder, Value grad,
                           SmallVectorImpl<Value> &operandGrads) {
  PrimitiveBuilder pb(builder, op->getLoc());
  Value logits = op->getOperand(0), labels = op->getOperand(1);
  auto logitsType = PrimitiveBuilder::typeOf(logits);
  Type element = logitsType.getElementType(), compute = pb.computeType(element);
  int64_t axis = logitsType.getRank() - 1, vocab = logitsType.getShape().back();
  Type i64 = builder.getI64Type();

  Value probs = pb.op<SoftmaxOp>(
      pb.cast(logits, compute),
      {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis))});
  // Compare in i64: a narrow label type (i4, i8) may not hold V itself.
  Value index = pb.cast(labels, i64);
  Value hot = pb.op<OneHotOp>(
      index, {builder.getNamedAttr("depth", builder.getI64IntegerAttr(vocab)),
              builder.getNamedAttr("dtype", TypeAttr::get(compute))});
  Value diff = Negate ? pb.op<SubOp>({probs, hot}) : pb.op<SubOp>({hot, probs});

  SmallVector<int64_t> columnShape(PrimitiveBuilder::shapeOf(labels));
  columnShape.push_back(1);
  Value inRange =
      pb.op<LogicalAndOp>({pb.op<GreaterEqualOp>({index, pb.scalarInt(i64, 0)}),
                           pb.op<LessOp>({index, pb.scalarInt(i64, vocab)})});
  Value g = pb.reshape(pb.cast(grad, compute), columnShape);
  Value dl = pb.select(pb.reshape(inRange, columnShape),
                       pb.op<MulOp>({diff, g}), pb.scalar(compute, 0.0));
  operandGrads.push_back(pb.cast(dl, element));
  operandGrads.push_back({}); // labels are integers
  return success();
}

} // namespace

KILN_VJP(CrossEntropyOp) {
  return tokenLossVjp<true>(getOperation(), builder, resultGrads[0],
                            operandGrads);
}

KILN_VJP(TokenLogprobsOp) {
  return tokenLossVjp<false>(getOperation(), builder, resultGrads[0],
                             operandGrads);
}

} // namespace kiln::ir
