//===- DecomposeMoe.cpp - the fused MoE ops into primitives ---------------===//
//
// For targets without fused MoE kernels: the routing becomes the top-k ops
// model code writes, the plan becomes argsort, bincount
// and cumsum (plus an integer scatter for its inverse), the expert products
// become grouped_matmuls over gathered rows, and the combine gathers each
// token's rows in ascending position order and sums them with a reduction
// (a fixed order: still no float atomics). The decomposed moe_down rounds each
// row once more than the fused op (after the product, before the routing
// weight), which stays within one unit in the last place of narrow types.
//
//===----------------------------------------------------------------------===//

#include "ir/MoeRows.h"
#include "passes/DecomposePatterns.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

NamedAttribute named(OpBuilder &b, StringRef name, Attribute value) {
  return b.getNamedAttr(name, value);
}

/// The routing as model code writes it (DeepseekMoe.cpp, transformers'
/// DeepseekV3TopkRouter): group scores from each group's top two, a mask of
/// the kept groups, top-k of the masked choices, the chosen scores gathered,
/// normalised and scaled.
struct MoeRouteDecomposition : OpRewritePattern<MoeRouteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoeRouteOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Location loc = op.getLoc();
    RankedTensorType type = op.getScores().getType();
    Type element = type.getElementType();
    int64_t t = type.getDimSize(0), e = type.getDimSize(1);
    int64_t g = op.getNumGroups(), n = e / g;
    auto topk = [&](Value x, int64_t k) {
      return rewriter.create<TopkOp>(
          loc, ValueRange{x},
          ArrayRef<NamedAttribute>{
              named(rewriter, "k", rewriter.getI64IntegerAttr(k))});
    };
    auto sum = [&](Value x, int64_t axis, bool keep) {
      return pb.op<SumOp>(
          {x}, {named(rewriter, "axes", rewriter.getDenseI64ArrayAttr({axis})),
                named(rewriter, "keepdims", rewriter.getBoolAttr(keep))});
    };
    Value choice = pb.op<AddOp>({op.getScores(), op.getBias()});
    Value groupScores =
        sum(topk(pb.reshape(choice, {t, g, n}), 2).getValues(), -1, false);
    Value kept = topk(groupScores, op.getTopkGroup()).getIndices();
    Value groupMask = sum(
        pb.op<OneHotOp>(
            {kept}, {named(rewriter, "depth", rewriter.getI64IntegerAttr(g)),
                     named(rewriter, "dtype", TypeAttr::get(element))}),
        1, false);
    Value expertMask = pb.reshape(
        pb.op<BroadcastToOp>({pb.reshape(groupMask, {t, g, 1})},
                             {named(rewriter, "shape",
                                    rewriter.getDenseI64ArrayAttr({t, g, n}))}),
        {t, e});
    Value masked =
        pb.select(pb.op<GreaterOp>({expertMask, pb.scalar(element, 0.5)}),
                  choice, pb.negInf(element));
    Value experts = topk(masked, op.getTopK()).getIndices();
    Value w = pb.op<TakeAlongAxisOp>(
        {op.getScores(), experts},
        {named(rewriter, "axis", rewriter.getI64IntegerAttr(1))});
    if (op.getNormalize())
      w = pb.op<DivOp>(
          {w, pb.op<AddOp>(
                  {sum(w, -1, true),
                   pb.scalar(element, op.getEpsilon().convertToDouble())})});
    w = pb.op<MulOp>(
        {w, pb.scalar(element, op.getScaling().convertToDouble())});
    rewriter.replaceOp(op, {experts, w});
    return success();
  }
};

struct MoePlanDecomposition : OpRewritePattern<MoePlanOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoePlanOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    RankedTensorType type = op.getExperts().getType();
    int64_t tokens = type.getDimSize(0), topK = type.getDimSize(1);
    Value flat = pb.reshape(op.getExperts(), {tokens * topK});
    Value order = pb.op<ArgsortOp>(
        {flat}, {named(rewriter, "axis", rewriter.getI64IntegerAttr(0)),
                 named(rewriter, "descending", rewriter.getBoolAttr(false))});
    Value counts = pb.op<BincountOp>(
        {flat}, {named(rewriter, "length",
                       rewriter.getI64IntegerAttr(op.getNumExperts()))});
    Value offsets = pb.op<CumsumOp>(
        {counts}, {named(rewriter, "axis", rewriter.getI64IntegerAttr(0)),
                   named(rewriter, "exclusive", rewriter.getBoolAttr(false)),
                   named(rewriter, "reverse", rewriter.getBoolAttr(false))});
    Value slot = moeSlotFromOrder(pb, order, tokens, topK);
    rewriter.replaceOp(op, {order, slot, offsets});
    return success();
  }
};

struct MoeGateUpDecomposition : OpRewritePattern<MoeGateUpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoeGateUpOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    RankedTensorType xType = op.getTokens().getType();
    Type element = xType.getElementType(), compute = pb.computeType(element);
    int64_t topK = op.getOrder().getType().getDimSize(0) / xType.getDimSize(0);
    Value rows = moeGatherRows(pb, op.getTokens(), op.getOrder(), topK);
    Value gate =
        moeGrouped(pb, rows, op.getWGate(), op.getOffsets(), false, true);
    Value up = moeGrouped(pb, rows, op.getWUp(), op.getOffsets(), false, true);
    Value act = pb.op<MulOp>(
        {pb.op<SiluOp>({pb.cast(gate, compute)}), pb.cast(up, compute)});
    rewriter.replaceOp(op, {pb.cast(act, element), gate, up});
    return success();
  }
};

struct MoeDownDecomposition : OpRewritePattern<MoeDownOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoeDownOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Type element = op.getAct().getType().getElementType();
    Type compute = pb.computeType(element);
    int64_t pairs = op.getOrder().getType().getDimSize(0);
    Value rows = moeGrouped(pb, op.getAct(), op.getWDown(), op.getOffsets(),
                            false, true);
    Value w = pb.reshape(
        pb.cast(moeRowWeights(pb, op.getWeights(), op.getOrder()), compute),
        {pairs, 1});
    Value weighted =
        pb.cast(pb.op<MulOp>({pb.cast(rows, compute), w}), element);
    rewriter.replaceOp(op,
                       moeCombine(pb, weighted, op.getOrder(), op.getSlot()));
    return success();
  }
};

struct MoeCombineDecomposition : OpRewritePattern<MoeCombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MoeCombineOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    RankedTensorType rowsType = op.getRows().getType();
    RankedTensorType slotType = op.getSlot().getType();
    Type element = rowsType.getElementType(), compute = pb.computeType(element);
    int64_t tokens = slotType.getDimSize(0), topK = slotType.getDimSize(1);
    int64_t width = rowsType.getDimSize(1);
    // Ascending positions per token: the order moe_combine sums in.
    Value sorted = pb.op<SortOp>(
        {op.getSlot()},
        {named(rewriter, "axis", rewriter.getI64IntegerAttr(1)),
         named(rewriter, "descending", rewriter.getBoolAttr(false))});
    Value gathered = pb.op<GatherOp>(
        {op.getRows(), pb.reshape(sorted, {tokens * topK})},
        {named(rewriter, "axis", rewriter.getI64IntegerAttr(0))});
    Value sum = pb.op<SumOp>(
        {pb.cast(pb.reshape(gathered, {tokens, topK, width}), compute)},
        {named(rewriter, "axes", rewriter.getDenseI64ArrayAttr({1})),
         named(rewriter, "keepdims", rewriter.getBoolAttr(false))});
    rewriter.replaceOp(op, pb.cast(sum, element));
    return success();
  }
};

} // namespace

void populateMoeDecompositions(RewritePatternSet &patterns,
                               CompositeFilter enabled) {
  if (enabled("moe_route"))
    patterns.add<MoeRouteDecomposition>(patterns.getContext());
  if (enabled("moe_plan"))
    patterns.add<MoePlanDecomposition>(patterns.getContext());
  if (enabled("moe_gate_up"))
    patterns.add<MoeGateUpDecomposition>(patterns.getContext());
  if (enabled("moe_down"))
    patterns.add<MoeDownDecomposition>(patterns.getContext());
  if (enabled("moe_combine"))
    patterns.add<MoeCombineDecomposition>(patterns.getContext());
}

} // namespace kiln::passes
