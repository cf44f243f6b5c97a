//===- VjpCollective.cpp - gradients of the collectives -------------------===//
//
// The objective of a program that every rank runs is the sum of every rank's
// loss, so each collective's gradient is the collective that moves cotangents
// back along the same links: all_reduce (sum) is its own transpose,
// all_gather and reduce_scatter are each other's, all_to_all is reversed with
// the received counts, and send and recv swap. A replicated loss (the same
// value on every rank) is counted once per rank under this rule; the data
// parallel pass divides by the group size for that reason.
//
//===----------------------------------------------------------------------===//

#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

namespace {

NamedAttribute i64Attr(OpBuilder &b, StringRef name, int64_t value) {
  return b.getNamedAttr(name, b.getI64IntegerAttr(value));
}

/// The cotangent of a collective's one float result, or null (after giving
/// every operand no gradient) when there is none to move.
Value floatCotangent(ArrayRef<Value> resultGrads, Value x, unsigned operands,
                     SmallVectorImpl<Value> &operandGrads) {
  if (resultGrads[0] && isFloatTensor(x))
    return resultGrads[0];
  operandGrads.append(operands, Value());
  return Value();
}

} // namespace

KILN_VJP(AllReduceOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value dy = floatCotangent(resultGrads, getX(), 1, operandGrads);
  if (!dy)
    return success();
  if (getReduction() == "sum") {
    operandGrads.push_back(pb.op<AllReduceOp>(
        dy, {builder.getNamedAttr("reduction", builder.getStringAttr("sum")),
             i64Attr(builder, "group_size", getGroupSize())}));
    return success();
  }
  // max / min: the cotangent flows to every element that equals the result
  // (on every rank holding it).
  Value hit = pb.op<EqualOp>({getX(), getResult()});
  operandGrads.push_back(
      pb.select(hit, dy, zerosLike(pb, PrimitiveBuilder::typeOf(dy))));
  return success();
}

KILN_VJP(AllGatherOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value dy = floatCotangent(resultGrads, getX(), 1, operandGrads);
  if (!dy)
    return success();
  operandGrads.push_back(
      pb.op<ReduceScatterOp>(dy, {i64Attr(builder, "axis", getAxis()),
                                  i64Attr(builder, "group_size",
                                          getGroupSize())}));
  return success();
}

KILN_VJP(ReduceScatterOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value dy = floatCotangent(resultGrads, getX(), 1, operandGrads);
  if (!dy)
    return success();
  operandGrads.push_back(
      pb.op<AllGatherOp>(dy, {i64Attr(builder, "axis", getAxis()),
                              i64Attr(builder, "group_size",
                                      getGroupSize())}));
  return success();
}

KILN_VJP(AllToAllOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value dy = floatCotangent(resultGrads, getX(), 2, operandGrads);
  if (!dy)
    return success();
  // Each received block goes back to the rank it came from, which places it
  // where its rows were sent from: the reverse exchange with the counts
  // swapped.
  auto back = builder.create<AllToAllOp>(
      getLoc(), ValueRange{dy, getRecvCounts()},
      ArrayRef<NamedAttribute>{
          i64Attr(builder, "capacity", getX().getType().getDimSize(0)),
          i64Attr(builder, "group_size", getGroupSize())});
  operandGrads.push_back(back.getResult());
  operandGrads.push_back(Value());
  return success();
}

KILN_VJP(SendOp) {
  if (!isFloatTensor(getX())) {
    operandGrads.push_back(Value());
    return success();
  }
  auto recv = builder.create<RecvOp>(
      getLoc(), ValueRange{},
      ArrayRef<NamedAttribute>{
          builder.getNamedAttr("type", TypeAttr::get(getX().getType())),
          i64Attr(builder, "peer", getPeer()),
          i64Attr(builder, "group_size", getGroupSize())});
  operandGrads.push_back(recv.getResult());
  return success();
}

KILN_VJP(RecvOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value dy = resultGrads[0];
  // The peer's send waits for a cotangent whether or not this rank's loss
  // reads the received value: send zeros then.
  if (!dy)
    dy = zerosLike(pb, getResult().getType());
  builder.create<SendOp>(getLoc(), TypeRange{}, ValueRange{dy},
                         ArrayRef<NamedAttribute>{
                             i64Attr(builder, "peer", getPeer()),
                             i64Attr(builder, "group_size", getGroupSize())});
  return success();
}

} // namespace kiln::ir
