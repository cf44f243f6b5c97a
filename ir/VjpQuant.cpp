//===- VjpQuant.cpp - gradients of quantize, dequantize, scaled_matmul ----===//
//
// Straight-through: quantize passes its cotangent back divided by the scale,
// dequantize multiplies it by the scale, so quantize-then-dequantize is the
// identity to autodiff. Scales get no gradient. Float8 cotangents are carried
// in f32 (cotangentType), never rounded to 3 mantissa bits.
//
//===----------------------------------------------------------------------===//

#include "ir/Quantization.h"
#include "ir/Vjp.h"

using namespace mlir;

namespace kiln::ir {

namespace {

/// grad (any float type) times or divided by `scale` spread over `shape`, in
/// f32.
Value scaleGrad(PrimitiveBuilder &pb, Value grad, Value scale,
                ArrayRef<int64_t> block, bool divide) {
  Value g = pb.cast(grad, pb.builder().getF32Type());
  Value s = expandBlockScale(pb, scale, PrimitiveBuilder::shapeOf(g), block);
  return divide ? pb.op<DivOp>({g, s}) : pb.op<MulOp>({g, s});
}

} // namespace

KILN_VJP(QuantizeOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(Value());
  if (!resultGrads[0])
    return success();
  Value dx =
      scaleGrad(pb, resultGrads[0], getScale(), getBlock(), /*divide=*/true);
  operandGrads[0] = pb.cast(dx, getX().getType().getElementType());
  return success();
}

KILN_VJP(DequantizeOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.append(2, Value());
  if (!isFloatTensor(getQ()))
    return success();
  operandGrads[0] =
      scaleGrad(pb, resultGrads[0], getScale(), getBlock(), /*divide=*/false);
  return success();
}

KILN_VJP(ScaledMatmulOp) {
  // The gradient of dequantize(a) @ dequantize(b), in f32: with a' = op(A)
  // and b' = op(B), dA' = g b'^T and dB' = a'^T g (a transposed operand takes
  // its gradient transposed, which swaps the product), each then carried
  // through its dequantize.
  PrimitiveBuilder pb(builder, getLoc());
  Type f32 = builder.getF32Type();
  auto dequantized = [&](Value q, Value scale, ArrayRef<int64_t> block) {
    return pb.op<DequantizeOp>(
        {q, scale},
        {builder.getNamedAttr("block", builder.getDenseI64ArrayAttr(block)),
         builder.getNamedAttr("dtype", TypeAttr::get(f32))});
  };
  Value a = dequantized(getA(), getAScale(), getABlock());
  Value b = dequantized(getB(), getBScale(), getBBlock());
  Value g = pb.cast(resultGrads[0], f32);
  bool ta = getTransposeA(), tb = getTransposeB();
  Value da = ta ? pb.matmul(b, g, tb, true) : pb.matmul(g, b, false, !tb);
  Value db = tb ? pb.matmul(g, a, true, ta) : pb.matmul(a, g, !ta, false);
  operandGrads.push_back(
      scaleGrad(pb, da, getAScale(), getABlock(), /*divide=*/false));
  operandGrads.push_back(Value());
  operandGrads.push_back(
      scaleGrad(pb, db, getBScale(), getBBlock(), /*divide=*/false));
  operandGrads.push_back(Value());
  return success();
}

} // namespace kiln::ir
