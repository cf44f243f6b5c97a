//===- DecomposeNormalization.cpp - softmax, rms_norm and token losses ----===//
//
// Expansions of the normalising composites. Narrow float inputs are widened to
// f32 first and rounded back once at the end, as docs/OPS.md requires of
// composites.
//
//===----------------------------------------------------------------------===//

#include "passes/DecomposePatterns.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {

Value buildSoftmax(PrimitiveBuilder &pb, Value x, int64_t axis) {
  Value shifted = pb.op<SubOp>({x, pb.maxKeep(x, axis)});
  Value e = pb.op<ExpOp>({shifted});
  return pb.op<DivOp>({e, pb.sumKeep(e, axis)});
}

Value buildLogSoftmax(PrimitiveBuilder &pb, Value x, int64_t axis) {
  Value shifted = pb.op<SubOp>({x, pb.maxKeep(x, axis)});
  Value lse = pb.op<LogOp>({pb.sumKeep(pb.op<ExpOp>({shifted}), axis)});
  return pb.op<SubOp>({shifted, lse});
}

namespace {

/// softmax and log_softmax share everything but the formula.
template <typename OpT, Value (*Build)(PrimitiveBuilder &, Value, int64_t)>
struct SoftmaxLikeDecomposition : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Value x = op.getX();
    Type element = PrimitiveBuilder::typeOf(x).getElementType();
    int64_t axis = normalizeAxis(op.getAxisAttr().getInt(),
                                 PrimitiveBuilder::typeOf(x).getRank());
    Value y = Build(pb, pb.cast(x, pb.computeType(element)), axis);
    rewriter.replaceOp(op, pb.cast(y, element));
    return success();
  }
};

struct RmsNormDecomposition : OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RmsNormOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    auto type = PrimitiveBuilder::typeOf(op.getX());
    Type element = type.getElementType(), compute = pb.computeType(element);
    Value x = pb.cast(op.getX(), compute);
    Value weight = pb.cast(op.getWeight(), compute);
    Value meanSquare = pb.meanKeep(pb.op<MulOp>({x, x}), type.getRank() - 1);
    Value eps = pb.scalar(compute, op.getEpsAttr().getValueAsDouble());
    Value inverse = pb.op<RsqrtOp>({pb.op<AddOp>({meanSquare, eps})});
    Value y = pb.op<MulOp>({pb.op<MulOp>({x, inverse}), weight});
    rewriter.replaceOp(op, pb.cast(y, element));
    return success();
  }
};

/// cross_entropy (Negate) and token_logprobs: log_softmax picked at the label,
/// 0 where the label is outside [0, V).
template <typename OpT, bool Negate>
struct TokenLossDecomposition : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpT op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Value logits = op->getOperand(0), labels = op->getOperand(1);
    auto logitsType = PrimitiveBuilder::typeOf(logits);
    Type element = logitsType.getElementType(),
         compute = pb.computeType(element);
    int64_t axis = logitsType.getRank() - 1;
    int64_t vocab = logitsType.getShape().back();

    Value logProbs = buildLogSoftmax(pb, pb.cast(logits, compute), axis);
    // Compare in i64: a narrow label type (i4, i8) may not hold V itself.
    Type i64 = rewriter.getI64Type();
    Value index = pb.cast(labels, i64);
    SmallVector<int64_t> columnShape(PrimitiveBuilder::shapeOf(labels));
    columnShape.push_back(1);
    Value picked = pb.op<TakeAlongAxisOp>(
        {logProbs, pb.reshape(index, columnShape)},
        {rewriter.getNamedAttr("axis", rewriter.getI64IntegerAttr(axis))});
    picked = pb.reshape(picked, PrimitiveBuilder::shapeOf(labels));
    if (Negate)
      picked = pb.op<NegOp>({picked});

    // take_along_axis clamped out-of-range labels; the ignore rule zeroes them.
    Value inRange = pb.op<LogicalAndOp>(
        {pb.op<GreaterEqualOp>({index, pb.scalarInt(i64, 0)}),
         pb.op<LessOp>({index, pb.scalarInt(i64, vocab)})});
    Value y = pb.select(inRange, picked, pb.scalar(compute, 0.0));
    rewriter.replaceOp(op, pb.cast(y, element));
    return success();
  }
};

} // namespace

void populateNormalizationDecompositions(RewritePatternSet &patterns,
                                         CompositeFilter enabled) {
  MLIRContext *ctx = patterns.getContext();
  if (enabled("softmax"))
    patterns.add<SoftmaxLikeDecomposition<SoftmaxOp, buildSoftmax>>(ctx);
  if (enabled("log_softmax"))
    patterns.add<SoftmaxLikeDecomposition<LogSoftmaxOp, buildLogSoftmax>>(ctx);
  if (enabled("rms_norm"))
    patterns.add<RmsNormDecomposition>(ctx);
  if (enabled("cross_entropy"))
    patterns.add<TokenLossDecomposition<CrossEntropyOp, true>>(ctx);
  if (enabled("token_logprobs"))
    patterns.add<TokenLossDecomposition<TokenLogprobsOp, false>>(ctx);
}

} // namespace kiln::passes
