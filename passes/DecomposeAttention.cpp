//===- DecomposeAttention.cpp - attention into matmul, mask and softmax ---===//
//
// GQA without copying k/v: the G query heads that share a kv head are folded
// into its rows, so both matmuls keep k and v as they are.
//
//===----------------------------------------------------------------------===//

#include "ir/AttentionMask.h"
#include "passes/DecomposePatterns.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

struct AttentionDecomposition : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    auto qType = PrimitiveBuilder::typeOf(op.getQ());
    auto kType = PrimitiveBuilder::typeOf(op.getK());
    auto vType = PrimitiveBuilder::typeOf(op.getV());
    Type element = qType.getElementType(), compute = pb.computeType(element);
    int64_t batch = qType.getDimSize(0), qHeads = qType.getDimSize(1),
            qLen = qType.getDimSize(2), qWidth = qType.getDimSize(3);
    int64_t kvHeads = kType.getDimSize(1), kLen = kType.getDimSize(2),
            vWidth = vType.getDimSize(3);
    int64_t group = qHeads / kvHeads;

    Value q = pb.cast(op.getQ(), compute);
    Value k = pb.cast(op.getK(), compute);
    Value v = pb.cast(op.getV(), compute);

    // Query head h = kvHead * G + g, so [B, Hq, Sq, D] is [B, Hkv, G * Sq, D]
    // in row-major order: each kv head sees its G query heads as extra rows.
    q = pb.reshape(q, {batch, kvHeads, group * qLen, qWidth});
    Value scores = pb.matmul(q, k, /*transposeB=*/true);
    scores = pb.op<MulOp>(
        {scores, pb.scalar(compute, op.getScaleAttr().getValueAsDouble())});

    // Split the rows again so the mask (over query position i) can broadcast.
    SmallVector<int64_t> scoreShape = {batch, kvHeads};
    if (group > 1)
      scoreShape.push_back(group);
    scoreShape.append({qLen, kLen});
    scores = pb.reshape(scores, scoreShape);
    int64_t keyAxis = scoreShape.size() - 1;

    Value probs;
    if (Value visible = attentionVisibility(pb, op, scoreShape.size())) {
      Value masked = pb.select(visible, scores, pb.negInf(compute));
      // A query that sees no key must give 0, not exp(-inf - -inf) = NaN: shift
      // by 0 and divide by 1 on those rows so that e = 0 stays exact and
      // NaN-free. The mask may have a lower rank than the scores, hence axis
      // -1.
      Type i64 = rewriter.getI64Type();
      Value anyVisible = pb.op<GreaterOp>(
          {pb.sumKeep(pb.cast(visible, i64), -1), pb.scalarInt(i64, 0)});
      Value shift = pb.select(anyVisible, pb.maxKeep(masked, keyAxis),
                              pb.scalar(compute, 0.0));
      Value e = pb.op<ExpOp>({pb.op<SubOp>({masked, shift})});
      Value total = pb.select(anyVisible, pb.sumKeep(e, keyAxis),
                              pb.scalar(compute, 1.0));
      probs = pb.op<DivOp>({e, total});
    } else {
      probs = buildSoftmax(pb, scores, keyAxis);
    }

    probs = pb.reshape(probs, {batch, kvHeads, group * qLen, kLen});
    Value out = pb.matmul(probs, v, /*transposeB=*/false);
    out = pb.reshape(out, {batch, qHeads, qLen, vWidth});
    rewriter.replaceOp(op, pb.cast(out, element));
    return success();
  }

  /// i1 visibility of key j to query i, broadcastable to the scores of rank
  /// `scoreRank` ([B, Hkv, (G,) Sq, Sk]); null when every key is visible.
};

} // namespace

void populateAttentionDecomposition(RewritePatternSet &patterns,
                                    CompositeFilter enabled) {
  if (enabled("attention"))
    patterns.add<AttentionDecomposition>(patterns.getContext());
}

} // namespace kiln::passes
