//===- VjpElementwise.cpp - gradients of elementwise kiln ops
//--------------===//
//
// Vector-Jacobian products of the unary and binary elementwise ops, select and
// cast. Binary rules sum broadcast gradients back to each operand's shape.
//
//===----------------------------------------------------------------------===//

#include "ir/Vjp.h"

#include <cmath>

using namespace mlir;

namespace kiln::ir {

namespace {

// Shorthands so the rules below read like their formulas.
Value mul(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<MulOp>(ValueRange{a, b});
}
Value div(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<DivOp>(ValueRange{a, b});
}
Value add(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<AddOp>(ValueRange{a, b});
}
Value sub(PrimitiveBuilder &pb, Value a, Value b) {
  return pb.op<SubOp>(ValueRange{a, b});
}
/// A rank-0 constant of `like`'s element type (broadcasts against it).
Value constant(PrimitiveBuilder &pb, Value like, double value) {
  return pb.scalar(PrimitiveBuilder::typeOf(like).getElementType(), value);
}

} // namespace

KILN_VJP(NegOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(isFloatTensor(getX()) ? pb.op<NegOp>(resultGrads[0])
                                               : Value());
  return success();
}

KILN_VJP(AbsOp) {
  PrimitiveBuilder pb(builder, getLoc());
  // sign(0) = 0 picks the zero subgradient at the kink, as JAX and PyTorch do.
  operandGrads.push_back(isFloatTensor(getX())
                             ? mul(pb, resultGrads[0], pb.op<SignOp>(getX()))
                             : Value());
  return success();
}

KILN_VJP(ExpOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(mul(pb, resultGrads[0], getResult()));
  return success();
}

KILN_VJP(LogOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(div(pb, resultGrads[0], getX()));
  return success();
}

KILN_VJP(SqrtOp) {
  // d sqrt(x) = 1 / (2 sqrt(x)): reuse the forward result.
  PrimitiveBuilder pb(builder, getLoc());
  Value y = getResult();
  operandGrads.push_back(
      div(pb, resultGrads[0], mul(pb, constant(pb, y, 2.0), y)));
  return success();
}

KILN_VJP(RsqrtOp) {
  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3, with no division.
  PrimitiveBuilder pb(builder, getLoc());
  Value y = getResult();
  Value y3 = mul(pb, y, mul(pb, y, y));
  operandGrads.push_back(
      mul(pb, resultGrads[0], mul(pb, constant(pb, y, -0.5), y3)));
  return success();
}

KILN_VJP(TanhOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value y = getResult();
  operandGrads.push_back(
      mul(pb, resultGrads[0], sub(pb, constant(pb, y, 1.0), mul(pb, y, y))));
  return success();
}

KILN_VJP(SigmoidOp) {
  PrimitiveBuilder pb(builder, getLoc());
  Value y = getResult();
  operandGrads.push_back(
      mul(pb, resultGrads[0], mul(pb, y, sub(pb, constant(pb, y, 1.0), y))));
  return success();
}

KILN_VJP(SiluOp) {
  // d x s(x) = s + x s (1 - s) = s (1 + x (1 - s)).
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getX();
  Value s = pb.op<SigmoidOp>(x);
  Value one = constant(pb, x, 1.0);
  Value d = mul(pb, s, add(pb, one, mul(pb, x, sub(pb, one, s))));
  operandGrads.push_back(mul(pb, resultGrads[0], d));
  return success();
}

KILN_VJP(GeluOp) {
  // gelu = x Phi(x), so gelu' = Phi(x) + x phi(x) with
  // Phi = (1 + erf(x / sqrt 2)) / 2 and phi = exp(-x^2 / 2) / sqrt(2 pi).
  // Phi comes from erf rather than gelu(x) / x, which is 0/0 at x = 0.
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getX();
  Value cdf = mul(pb, constant(pb, x, 0.5),
                  add(pb, constant(pb, x, 1.0),
                      pb.op<ErfOp>(mul(pb, x, constant(pb, x, M_SQRT1_2)))));
  Value pdf = mul(pb, constant(pb, x, 0.5 * M_2_SQRTPI * M_SQRT1_2),
                  pb.op<ExpOp>(mul(pb, constant(pb, x, -0.5), mul(pb, x, x))));
  operandGrads.push_back(
      mul(pb, resultGrads[0], add(pb, cdf, mul(pb, x, pdf))));
  return success();
}

KILN_VJP(ErfOp) {
  // d erf(x) = 2 / sqrt(pi) exp(-x^2).
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getX();
  Value d = mul(pb, constant(pb, x, M_2_SQRTPI),
                pb.op<ExpOp>(pb.op<NegOp>(mul(pb, x, x))));
  operandGrads.push_back(mul(pb, resultGrads[0], d));
  return success();
}

KILN_VJP(SinOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(mul(pb, resultGrads[0], pb.op<CosOp>(getX())));
  return success();
}

KILN_VJP(CosOp) {
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(
      mul(pb, resultGrads[0], pb.op<NegOp>(pb.op<SinOp>(getX()))));
  return success();
}

KILN_VJP(AddOp) {
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getLhs())) {
    operandGrads.append(2, Value());
    return success();
  }
  operandGrads.push_back(unbroadcast(pb, resultGrads[0], getLhs().getType()));
  operandGrads.push_back(unbroadcast(pb, resultGrads[0], getRhs().getType()));
  return success();
}

KILN_VJP(SubOp) {
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getLhs())) {
    operandGrads.append(2, Value());
    return success();
  }
  operandGrads.push_back(unbroadcast(pb, resultGrads[0], getLhs().getType()));
  operandGrads.push_back(
      unbroadcast(pb, pb.op<NegOp>(resultGrads[0]), getRhs().getType()));
  return success();
}

KILN_VJP(MulOp) {
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getLhs())) {
    operandGrads.append(2, Value());
    return success();
  }
  Value g = resultGrads[0];
  operandGrads.push_back(
      unbroadcast(pb, mul(pb, g, getRhs()), getLhs().getType()));
  operandGrads.push_back(
      unbroadcast(pb, mul(pb, g, getLhs()), getRhs().getType()));
  return success();
}

KILN_VJP(DivOp) {
  // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -y/b. Integer division is piecewise
  // constant: no gradient.
  PrimitiveBuilder pb(builder, getLoc());
  if (!isFloatTensor(getLhs())) {
    operandGrads.append(2, Value());
    return success();
  }
  Value g = resultGrads[0], b = getRhs();
  operandGrads.push_back(unbroadcast(pb, div(pb, g, b), getLhs().getType()));
  Value gb = pb.op<NegOp>(div(pb, mul(pb, g, getResult()), b));
  operandGrads.push_back(unbroadcast(pb, gb, PrimitiveBuilder::typeOf(b)));
  return success();
}

KILN_VJP(PowOp) {
  // d a^b / da = b a^(b-1), taken as 0 where b = 0 (so 0^0 does not give
  // 0 * inf). d a^b / db = a^b log(a), real only for a > 0; a = 0 is taken as
  // 0 (the one-sided limit for b > 0, as JAX does) and a < 0 gives NaN.
  PrimitiveBuilder pb(builder, getLoc());
  Value g = resultGrads[0], a = getLhs(), b = getRhs(), y = getResult();
  Value zero = constant(pb, a, 0.0), one = constant(pb, a, 1.0);
  Value da = mul(pb, b, pb.op<PowOp>(ValueRange{a, sub(pb, b, one)}));
  da = pb.select(pb.op<EqualOp>(ValueRange{b, zero}), zero, da);
  operandGrads.push_back(
      unbroadcast(pb, mul(pb, g, da), PrimitiveBuilder::typeOf(a)));
  Value aIsZero = pb.op<EqualOp>(ValueRange{a, zero});
  Value logA = pb.op<LogOp>(pb.select(aIsZero, one, a));
  operandGrads.push_back(unbroadcast(pb, mul(pb, g, mul(pb, y, logA)),
                                     PrimitiveBuilder::typeOf(b)));
  return success();
}

/// maximum / minimum: the gradient goes to the operand equal to the result,
/// split half and half on ties (JAX's balanced rule), none where the result is
/// NaN and neither operand equals it.
static void buildExtremumVjp(PrimitiveBuilder &pb, Value g, Value a, Value b,
                             Value y, SmallVectorImpl<Value> &operandGrads) {
  if (!isFloatTensor(a)) {
    operandGrads.append(2, Value());
    return;
  }
  Value aWins = pb.op<EqualOp>(ValueRange{a, y});
  Value bWins = pb.op<EqualOp>(ValueRange{b, y});
  Value zero = constant(pb, y, 0.0), half = constant(pb, y, 0.5),
        one = constant(pb, y, 1.0);
  auto share = [&](Value wins, Value otherWins) {
    return pb.select(wins, pb.select(otherWins, half, one), zero);
  };
  operandGrads.push_back(unbroadcast(pb, mul(pb, g, share(aWins, bWins)),
                                     PrimitiveBuilder::typeOf(a)));
  operandGrads.push_back(unbroadcast(pb, mul(pb, g, share(bWins, aWins)),
                                     PrimitiveBuilder::typeOf(b)));
}

KILN_VJP(MaximumOp) {
  PrimitiveBuilder pb(builder, getLoc());
  buildExtremumVjp(pb, resultGrads[0], getLhs(), getRhs(), getResult(),
                   operandGrads);
  return success();
}

KILN_VJP(MinimumOp) {
  PrimitiveBuilder pb(builder, getLoc());
  buildExtremumVjp(pb, resultGrads[0], getLhs(), getRhs(), getResult(),
                   operandGrads);
  return success();
}

KILN_VJP(SelectOp) {
  // The condition is boolean (no gradient); each branch gets the cotangent
  // where it was chosen. g already has the broadcast shape of all three.
  PrimitiveBuilder pb(builder, getLoc());
  operandGrads.push_back(Value());
  if (!isFloatTensor(getA())) {
    operandGrads.append(2, Value());
    return success();
  }
  Value g = resultGrads[0], cond = getCond();
  Value zero = constant(pb, g, 0.0);
  operandGrads.push_back(
      unbroadcast(pb, pb.select(cond, g, zero), getA().getType()));
  operandGrads.push_back(
      unbroadcast(pb, pb.select(cond, zero, g), getB().getType()));
  return success();
}

KILN_VJP(CastOp) {
  // float -> float is differentiable (identity up to rounding); a cast from or
  // to integers is piecewise constant.
  PrimitiveBuilder pb(builder, getLoc());
  Value x = getX();
  if (!isFloatTensor(x) || !isFloatTensor(getResult())) {
    operandGrads.push_back(Value());
    return success();
  }
  operandGrads.push_back(
      pb.cast(resultGrads[0], PrimitiveBuilder::typeOf(x).getElementType()));
  return success();
}

} // namespace kiln::ir
