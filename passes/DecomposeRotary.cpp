//===- DecomposeRotary.cpp - rotary position embedding into primitives ----===//
//
// Splits x into its (a, b) pairs with slices, rotates them in f32, and puts
// them back in the same layout (interleaved pairs or two halves).
//
//===----------------------------------------------------------------------===//

#include "passes/DecomposePatterns.h"

using namespace mlir;
using namespace kiln::ir;

namespace kiln::passes {
namespace {

struct RotaryDecomposition : OpRewritePattern<RotaryOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RotaryOp op,
                                PatternRewriter &rewriter) const override {
    PrimitiveBuilder pb(rewriter, op.getLoc());
    auto type = PrimitiveBuilder::typeOf(op.getX());
    Type element = type.getElementType(), compute = pb.computeType(element);
    Value x = pb.cast(op.getX(), compute);
    Value cos = pb.cast(op.getCos(), compute);
    Value sin = pb.cast(op.getSin(), compute);
    int64_t rank = type.getRank(), width = type.getShape().back(),
            half = width / 2;

    Value a, b;
    int64_t joinAxis;
    if (op.getInterleaved()) {
      // View [..., D] as [..., D/2, 2]: pair i is row i; a and b are its
      // columns.
      SmallVector<int64_t> pairs(type.getShape().drop_back());
      pairs.append({half, 2});
      Value view = pb.reshape(x, pairs);
      a = pb.slice(view, rank, 0, 1);
      b = pb.slice(view, rank, 1, 2);
      // cos/sin index the pair, so they gain the trailing unit dim of a and b.
      auto column = [&](Value table) {
        SmallVector<int64_t> shape(PrimitiveBuilder::shapeOf(table));
        shape.push_back(1);
        return pb.reshape(table, shape);
      };
      cos = column(cos);
      sin = column(sin);
      joinAxis = rank;
    } else {
      a = pb.slice(x, rank - 1, 0, half);
      b = pb.slice(x, rank - 1, half, width);
      joinAxis = rank - 1;
    }

    Value rotatedA =
        pb.op<SubOp>({pb.op<MulOp>({a, cos}), pb.op<MulOp>({b, sin})});
    Value rotatedB =
        pb.op<AddOp>({pb.op<MulOp>({b, cos}), pb.op<MulOp>({a, sin})});
    Value y =
        pb.reshape(pb.concat({rotatedA, rotatedB}, joinAxis), type.getShape());
    rewriter.replaceOp(op, pb.cast(y, element));
    return success();
  }
};

} // namespace

void populateRotaryDecomposition(RewritePatternSet &patterns,
                                 CompositeFilter enabled) {
  if (enabled("rotary"))
    patterns.add<RotaryDecomposition>(patterns.getContext());
}

} // namespace kiln::passes
