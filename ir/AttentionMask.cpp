//===- AttentionMask.cpp - which keys each query of kiln.attention sees ----===//

#include "ir/AttentionMask.h"

using namespace mlir;

namespace kiln::ir {

Value attentionVisibility(PrimitiveBuilder &pb, AttentionOp op,
                          int64_t scoreRank) {
  OpBuilder &b = pb.builder();
  Type i64 = b.getI64Type();
  auto qType = PrimitiveBuilder::typeOf(op.getQ());
  int64_t batch = qType.getDimSize(0), qLen = qType.getDimSize(2);
  int64_t kLen = PrimitiveBuilder::typeOf(op.getK()).getDimSize(2);
  auto perBatch = [&](Value lengths) {
    return pb.reshape(pb.cast(lengths, i64), {batch, 1, 1});
  };

  Value key = pb.iota({1, kLen}, 1, i64);
  Value visible;
  if (Value validLen = op.getValidLen())
    visible = pb.op<LessOp>({key, perBatch(validLen)}); // [B, 1, Sk]
  if (op.getCausal()) {
    Value limit = pb.iota({qLen, 1}, 0, i64);
    if (Value offset = op.getQOffset())
      limit = pb.op<AddOp>({limit, perBatch(offset)}); // [B, Sq, 1]
    Value causal = pb.op<LessEqualOp>({key, limit});
    visible = visible ? pb.op<LogicalAndOp>({visible, causal}) : causal;
  }
  if (!visible)
    return {};
  ArrayRef<int64_t> shape = PrimitiveBuilder::shapeOf(visible);
  if (shape.size() == 3) {
    SmallVector<int64_t> placed(scoreRank, 1);
    placed.front() = shape[0];
    placed[scoreRank - 2] = shape[1];
    placed[scoreRank - 1] = shape[2];
    visible = pb.reshape(visible, placed);
  }
  return visible;
}


} // namespace kiln::ir
