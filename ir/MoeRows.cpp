//===- MoeRows.cpp - the primitives behind the fused MoE ops --------------===//

#include "ir/MoeRows.h"
#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

Value moeTokenOfRows(PrimitiveBuilder &pb, Value order, int64_t topK) {
  Type element = PrimitiveBuilder::typeOf(order).getElementType();
  return pb.op<DivOp>({order, pb.scalarInt(element, topK)});
}

Value moeGatherRows(PrimitiveBuilder &pb, Value x, Value order, int64_t topK) {
  OpBuilder &b = pb.builder();
  return pb.op<GatherOp>({x, moeTokenOfRows(pb, order, topK)},
                         {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
}

Value moeRowWeights(PrimitiveBuilder &pb, Value weights, Value order) {
  OpBuilder &b = pb.builder();
  Value flat =
      pb.reshape(weights, {PrimitiveBuilder::typeOf(weights).getNumElements()});
  return pb.op<GatherOp>({flat, order},
                         {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
}

Value moeSlotFromOrder(PrimitiveBuilder &pb, Value order, int64_t tokens,
                       int64_t topK) {
  OpBuilder &b = pb.builder();
  RankedTensorType type = PrimitiveBuilder::typeOf(order);
  Value zeros = zerosLike(pb, type);
  Value positions = pb.iota(type.getShape(), 0, type.getElementType());
  Value slot =
      pb.op<ScatterAddOp>({zeros, order, positions},
                          {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
  return pb.reshape(slot, {tokens, topK});
}

Value moeGrouped(PrimitiveBuilder &pb, Value x, Value w, Value offsets,
                 bool contract, bool transposeW) {
  OpBuilder &b = pb.builder();
  auto mode = contract ? GroupedMatmulMode::contract : GroupedMatmulMode::rows;
  return pb.op<GroupedMatmulOp>(
      {x, w, offsets},
      {b.getNamedAttr("mode", GroupedMatmulModeAttr::get(b.getContext(), mode)),
       b.getNamedAttr("transpose_w", b.getBoolAttr(transposeW))});
}

Value moeCombine(PrimitiveBuilder &pb, Value rows, Value order, Value slot) {
  return pb.op<MoeCombineOp>({rows, order, slot});
}

} // namespace kiln::ir
