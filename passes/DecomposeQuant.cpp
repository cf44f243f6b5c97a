//===- DecomposeQuant.cpp - the quantization ops into primitives ----------===//
//
// For targets without quantization kernels. quantize pads x with zeros to
// whole blocks, takes each block's max |x| with a reduction over the split
// dimensions, and divides; integer rounding (half to even) is the f32 magic
// number trick, exact for |y| <= qmax < 2^22. scaled_matmul keeps its
// promotion points: a batched f32 matmul per K block (float8 products are
// exact in f32), each scaled by its blocks' scale product, then summed over
// the blocks in ascending order. The kernels' semantics are docs/OPS.md's.
//
//===----------------------------------------------------------------------===//

#include "ir/Quantization.h"
#include "ir/Vjp.h"
#include "passes/DecomposePatterns.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

/// `x` padded with zeros at the end of every dimension to whole blocks
/// (blockExtent of each block size).
Value padToBlocks(PrimitiveBuilder &pb, Value x, ArrayRef<int64_t> block) {
  for (auto [axis, b] : llvm::enumerate(block)) {
    auto type = PrimitiveBuilder::typeOf(x);
    int64_t d = type.getDimSize(axis), size = blockExtent(b, d);
    int64_t padded = (d + size - 1) / size * size;
    if (padded == d)
      continue;
    SmallVector<int64_t> shape(type.getShape());
    shape[axis] = padded - d;
    Value zeros = zerosLike(pb, type.clone(shape));
    x = pb.concat({x, zeros}, axis);
  }
  return x;
}

struct QuantizeDecomposition : OpRewritePattern<QuantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(QuantizeOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Type f32 = rewriter.getF32Type(), dtype = op.getDtype();
    ArrayRef<int64_t> shape = op.getX().getType().getShape();
    ArrayRef<int64_t> block = op.getBlock();
    double qmax = *quantizedMax(dtype);
    Value x = pb.cast(op.getX(), f32);

    // amax per block: |x| padded, split into [S0, b0, S1, b1, ...], reduced
    // over the b axes.
    Value magnitude = padToBlocks(pb, pb.op<AbsOp>({x}), block);
    SmallVector<int64_t> split, blockAxes;
    for (auto [axis, d, b] :
         llvm::enumerate(PrimitiveBuilder::shapeOf(magnitude), block)) {
      int64_t size = blockExtent(b, shape[axis]);
      split.append({d / size, size});
      blockAxes.push_back(2 * axis + 1);
    }
    Value amax = pb.op<MaxOp>(
        {pb.reshape(magnitude, split)},
        {rewriter.getNamedAttr("axes",
                               rewriter.getDenseI64ArrayAttr(blockAxes)),
         rewriter.getNamedAttr("keepdims", rewriter.getBoolAttr(false))});
    Value scale = pb.op<DivOp>({amax, pb.scalar(f32, qmax)});
    Value zero = pb.op<EqualOp>({scale, pb.scalar(f32, 0.0)});
    scale = pb.select(zero, pb.scalar(f32, 1.0), scale);

    Value y = pb.op<DivOp>({x, expandBlockScale(pb, scale, shape, block)});
    Value q;
    if (llvm::isa<FloatType>(dtype)) {
      q = pb.cast(y, dtype); // saturating, round to nearest even
    } else {
      // Clamp (NaN passes through and casts to 0), then round half to even:
      // adding and subtracting 1.5 * 2^23 leaves the nearest integer.
      y = pb.op<MinimumOp>(
          {pb.op<MaximumOp>({y, pb.scalar(f32, -qmax)}), pb.scalar(f32, qmax)});
      Value magic = pb.scalar(f32, 12582912.0);
      y = pb.op<SubOp>({pb.op<AddOp>({y, magic}), magic});
      q = pb.cast(y, dtype);
    }
    rewriter.replaceOp(op, {q, scale});
    return success();
  }
};

struct DequantizeDecomposition : OpRewritePattern<DequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DequantizeOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    Value q = pb.cast(op.getQ(), rewriter.getF32Type());
    Value scale = expandBlockScale(
        pb, op.getScale(), op.getQ().getType().getShape(), op.getBlock());
    rewriter.replaceOp(op, pb.cast(pb.op<MulOp>({q, scale}), op.getDtype()));
    return success();
  }
};

struct ScaledMatmulDecomposition : OpRewritePattern<ScaledMatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  /// The stored operand `x` ([M, K] when the K axis is 1, [K, M] when it is 0)
  /// as f32 [Kb, M, bk] blocks along K, zero-padded, and its scale as
  /// [Kb, M, 1]: each row's scale of each K block. The scale's K dimension
  /// already has Kb entries (inference makes its K block the promotion
  /// interval), so only its rows are spread.
  static std::pair<Value, Value> blocksAlongK(PrimitiveBuilder &pb, Value x,
                                              Value scale,
                                              ArrayRef<int64_t> block,
                                              int64_t kAxis, int64_t bk) {
    OpBuilder &b = pb.builder();
    auto transpose = [&](Value t, ArrayRef<int64_t> perm) {
      return pb.op<TransposeOp>(
          {t}, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
    };
    Value v = pb.cast(x, b.getF32Type());
    if (kAxis == 0)
      v = transpose(v, {1, 0});
    // [M, K] -> [M, Kb, bk] -> [Kb, M, bk].
    int64_t m = PrimitiveBuilder::shapeOf(v)[0];
    v = padToBlocks(pb, v, {1, bk});
    int64_t kb = PrimitiveBuilder::shapeOf(v)[1] / bk;
    v = transpose(pb.reshape(v, {m, kb, bk}), {1, 0, 2});
    // The scale, [Sm, Kb] or [Kb, Sm] as stored, spread over the rows.
    Value s =
        kAxis == 0
            ? expandBlockScale(pb, scale, {kb, m}, {1, block[1]})
            : transpose(expandBlockScale(pb, scale, {m, kb}, {block[0], 1}),
                        {1, 0});
    return {v, pb.reshape(s, {kb, m, 1})};
  }

  LogicalResult matchAndRewrite(ScaledMatmulOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    bool ta = op.getTransposeA(), tb = op.getTransposeB();
    int64_t aK = ta ? 0 : 1, bK = tb ? 1 : 0;
    int64_t k = op.getA().getType().getDimSize(aK);
    int64_t bk = blockExtent(op.getABlock()[aK], k);
    auto [a, sa] = blocksAlongK(pb, op.getA(), op.getAScale(), op.getABlock(),
                                aK, bk); // [Kb, M, bk], [Kb, M, 1]
    auto [b, sb] = blocksAlongK(pb, op.getB(), op.getBScale(), op.getBBlock(),
                                bK, bk); // [Kb, N, bk], [Kb, N, 1]
    Value partial = pb.matmul(a, b, /*transposeB=*/true);  // [Kb, M, N]
    Value scales = pb.matmul(sa, sb, /*transposeB=*/true); // sa * sb
    Value acc = pb.op<SumOp>(
        {pb.op<MulOp>({partial, scales})},
        {rewriter.getNamedAttr("axes", rewriter.getDenseI64ArrayAttr({0})),
         rewriter.getNamedAttr("keepdims", rewriter.getBoolAttr(false))});
    rewriter.replaceOp(op, pb.cast(acc, op.getDtype()));
    return success();
  }
};

} // namespace

void populateQuantDecompositions(RewritePatternSet &patterns,
                                 CompositeFilter enabled) {
  if (enabled("quantize"))
    patterns.add<QuantizeDecomposition>(patterns.getContext());
  if (enabled("dequantize"))
    patterns.add<DequantizeDecomposition>(patterns.getContext());
  if (enabled("scaled_matmul"))
    patterns.add<ScaledMatmulDecomposition>(patterns.getContext());
}

} // namespace kiln::passes
