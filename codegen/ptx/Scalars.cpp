//===- Scalars.cpp - scalar arithmetic shared by the ptx kernels -----------===//
//
// Conversions between element types (fp8 decoded and encoded by hand: LLVM has
// no fp8 type), constants, and the Philox generator, emitted as arith/math ops
// so every kernel of the ptx target rounds and draws exactly as the CPU
// executor does.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/Scalars.h"

#include <cmath>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;

namespace kiln::codegen::ptx {

bool isFloat(Type t) { return llvm::isa<FloatType>(t); }
bool isF8(Type t) { return t.isFloat8E4M3FN() || t.isFloat8E5M2(); }

/// f64 computes in f64, other floats in f32, integers in their own type.
Type computeType(OpBuilder &b, Type element) {
  if (!isFloat(element) || element.isF64())
    return element;
  return b.getF32Type();
}

namespace {

/// fp8 formats: exponent and mantissa widths, bias, and the largest finite value.
struct F8Format {
  int mantissaBits, exponentBits, bias;
  double maxFinite;
  bool hasInfinity;
};

F8Format f8Format(Type t) {
  if (t.isFloat8E4M3FN())
    return {3, 4, 7, 448.0, false};
  return {2, 5, 15, 57344.0, true};
}

Value i32c(OpBuilder &b, Location l, int64_t v) {
  return b.create<arith::ConstantOp>(l, b.getI32IntegerAttr(static_cast<int32_t>(v)));
}

/// fp8 -> f32, exactly (LLVM has no fp8 type: the bits are decoded by hand).
Value decodeF8(OpBuilder &b, Location l, Value v) {
  F8Format f = f8Format(v.getType());
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  Value bits = b.create<arith::ExtUIOp>(l, i32, b.create<arith::BitcastOp>(l, b.getI8Type(), v));
  Value sign = b.create<arith::ShRUIOp>(l, bits, i32c(b, l, 7));
  Value exponent = b.create<arith::AndIOp>(
      l, b.create<arith::ShRUIOp>(l, bits, i32c(b, l, f.mantissaBits)),
      i32c(b, l, (1 << f.exponentBits) - 1));
  Value mantissa = b.create<arith::AndIOp>(l, bits, i32c(b, l, (1 << f.mantissaBits) - 1));
  // Normal: rebias the exponent and widen the mantissa into an f32 bit pattern.
  Value normalBits = b.create<arith::OrIOp>(
      l,
      b.create<arith::ShLIOp>(
          l, b.create<arith::AddIOp>(l, exponent, i32c(b, l, 127 - f.bias)), i32c(b, l, 23)),
      b.create<arith::ShLIOp>(l, mantissa, i32c(b, l, 23 - f.mantissaBits)));
  Value normal = b.create<arith::BitcastOp>(l, f32, normalBits);
  // Subnormal: mantissa * 2^(1 - bias - mantissaBits).
  Value subnormal = b.create<arith::MulFOp>(
      l, b.create<arith::UIToFPOp>(l, f32, mantissa),
      floatConst(b, l, f32, std::ldexp(1.0, 1 - f.bias - f.mantissaBits)));
  Value isZeroExp = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, exponent, i32c(b, l, 0));
  Value magnitude = b.create<arith::SelectOp>(l, isZeroExp, subnormal, normal);
  // Specials: E4M3FN has only NaN (S.1111.111); E5M2 has inf (m = 0) and NaN.
  Value maxExp = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, exponent,
                                         i32c(b, l, (1 << f.exponentBits) - 1));
  Value nan = floatConst(b, l, f32, NAN);
  if (f.hasInfinity) {
    Value isInf = b.create<arith::AndIOp>(
        l, maxExp, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, mantissa, i32c(b, l, 0)));
    Value special = b.create<arith::SelectOp>(l, isInf, floatConst(b, l, f32, INFINITY), nan);
    magnitude = b.create<arith::SelectOp>(l, maxExp, special, magnitude);
  } else {
    Value isNan = b.create<arith::AndIOp>(
        l, maxExp, b.create<arith::CmpIOp>(l, arith::CmpIPredicate::eq, mantissa, i32c(b, l, 7)));
    magnitude = b.create<arith::SelectOp>(l, isNan, nan, magnitude);
  }
  Value negative = b.create<arith::CmpIOp>(l, arith::CmpIPredicate::ne, sign, i32c(b, l, 0));
  return b.create<arith::SelectOp>(l, negative, b.create<arith::NegFOp>(l, magnitude), magnitude);
}

/// f32 -> fp8 with round-to-nearest-even, saturating to the largest finite
/// value (infinities too), NaN kept: the semantics docs/OPS.md pins.
Value encodeF8(OpBuilder &b, Location l, Value x, Type to) {
  F8Format f = f8Format(to);
  Type i32 = b.getI32Type(), f32 = b.getF32Type();
  Value xBits = b.create<arith::BitcastOp>(l, i32, x);
  Value sign = b.create<arith::AndIOp>(l, b.create<arith::ShRUIOp>(l, xBits, i32c(b, l, 24)),
                                       i32c(b, l, 0x80));
  Value a = b.create<math::AbsFOp>(l, x);
  // Quantum of |x|'s binade (at least the subnormal step), then round to it.
  Value aExp = b.create<arith::SubIOp>(
      l, b.create<arith::AndIOp>(l, b.create<arith::ShRUIOp>(l, b.create<arith::BitcastOp>(l, i32, a),
                                                             i32c(b, l, 23)),
                                 i32c(b, l, 0xFF)),
      i32c(b, l, 127));
  Value exp = b.create<arith::MaxSIOp>(l, aExp, i32c(b, l, 1 - f.bias));
  Value quantumBits = b.create<arith::ShLIOp>(
      l, b.create<arith::AddIOp>(l, exp, i32c(b, l, 127 - f.mantissaBits)), i32c(b, l, 23));
  Value quantum = b.create<arith::BitcastOp>(l, f32, quantumBits);
  // Round to nearest even by adding and subtracting 2^23: the quotient is below
  // 2^(mantissaBits + 1), and f32 addition rounds to nearest even (the NVVM path
  // has no lowering for math.roundeven).
  Value magic = floatConst(b, l, f32, 8388608.0);
  Value quotient = b.create<arith::DivFOp>(l, a, quantum);
  Value rounded = b.create<arith::MulFOp>(
      l, b.create<arith::SubFOp>(l, b.create<arith::AddFOp>(l, quotient, magic), magic),
      quantum);
  rounded = b.create<arith::MinimumFOp>(l, rounded, floatConst(b, l, f32, f.maxFinite));
  // Encode the now-representable magnitude.
  Value rBits = b.create<arith::BitcastOp>(l, i32, rounded);
  Value rExp = b.create<arith::AndIOp>(l, b.create<arith::ShRUIOp>(l, rBits, i32c(b, l, 23)),
                                       i32c(b, l, 0xFF));
  Value normalCode = b.create<arith::OrIOp>(
      l,
      b.create<arith::ShLIOp>(l, b.create<arith::SubIOp>(l, rExp, i32c(b, l, 127 - f.bias)),
                              i32c(b, l, f.mantissaBits)),
      b.create<arith::AndIOp>(l, b.create<arith::ShRUIOp>(l, rBits, i32c(b, l, 23 - f.mantissaBits)),
                              i32c(b, l, (1 << f.mantissaBits) - 1)));
  Value subnormalCode = b.create<arith::FPToUIOp>(
      l, i32,
      b.create<arith::MulFOp>(l, rounded,
                              floatConst(b, l, f32, std::ldexp(1.0, f.bias - 1 + f.mantissaBits))));
  Value isSubnormal = b.create<arith::CmpFOp>(
      l, arith::CmpFPredicate::OLT, rounded, floatConst(b, l, f32, std::ldexp(1.0, 1 - f.bias)));
  Value code = b.create<arith::SelectOp>(l, isSubnormal, subnormalCode, normalCode);
  Value isNan = b.create<arith::CmpFOp>(l, arith::CmpFPredicate::UNO, x, x);
  code = b.create<arith::SelectOp>(l, isNan, i32c(b, l, 0x7F), code);
  code = b.create<arith::OrIOp>(l, code, sign);
  return b.create<arith::BitcastOp>(l, to, b.create<arith::TruncIOp>(l, b.getI8Type(), code));
}

} // namespace

Value convert(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (isF8(from))
    return convert(b, loc, decodeF8(b, loc, v), to);
  if (isF8(to))
    return encodeF8(b, loc, convert(b, loc, v, b.getF32Type()), to);
  if (isFloat(from) && isFloat(to)) {
    if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
      return b.create<arith::ExtFOp>(loc, to, v);
    return b.create<arith::TruncFOp>(loc, to, v);
  }
  if (to.isInteger(1)) {
    if (isFloat(from))
      return b.create<arith::CmpFOp>(
          loc, arith::CmpFPredicate::UNE, v,
          b.create<arith::ConstantOp>(loc, b.getFloatAttr(from, 0.0)));
    return b.create<arith::CmpIOp>(
        loc, arith::CmpIPredicate::ne, v,
        b.create<arith::ConstantOp>(loc, b.getIntegerAttr(from, 0)));
  }
  if (from.isInteger(1)) {
    if (isFloat(to))
      return b.create<arith::UIToFPOp>(loc, to, v);
    return b.create<arith::ExtUIOp>(loc, to, v);
  }
  if (isFloat(from))
    return b.create<arith::FPToSIOp>(loc, to, v);
  if (isFloat(to))
    return b.create<arith::SIToFPOp>(loc, to, v);
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return b.create<arith::ExtSIOp>(loc, to, v);
  return b.create<arith::TruncIOp>(loc, to, v);
}

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return b.create<arith::ConstantOp>(loc, b.getFloatAttr(t, v));
}

/// Philox4x32-10 exactly as executor/cpu/Philox.h: counter = (flat lo, flat hi,
/// c2, 0), key = (lo, hi) of the i64 key. Returns the four output words.
SmallVector<Value> philox(OpBuilder &nb, Location l, Value flat, Value key) {
  Type i32 = nb.getI32Type(), i64 = nb.getI64Type();
  auto c32 = [&](uint32_t v) {
    return nb.create<arith::ConstantOp>(l, nb.getI32IntegerAttr(static_cast<int32_t>(v)))
        .getResult();
  };
  auto lo = [&](Value v) { return nb.create<arith::TruncIOp>(l, i32, v).getResult(); };
  auto hi = [&](Value v) {
    return nb.create<arith::TruncIOp>(
                 l, i32, nb.create<arith::ShRUIOp>(l, v, nb.create<arith::ConstantOp>(l, nb.getI64IntegerAttr(32))))
        .getResult();
  };
  SmallVector<Value> ctr{lo(flat), hi(flat), c32(0), c32(0)};
  Value k0 = lo(key), k1 = hi(key);
  for (int round = 0; round < 10; ++round) {
    auto p0 = nb.create<arith::MulUIExtendedOp>(l, c32(0xD2511F53), ctr[0]);
    auto p1 = nb.create<arith::MulUIExtendedOp>(l, c32(0xCD9E8D57), ctr[2]);
    SmallVector<Value> next{
        nb.create<arith::XOrIOp>(l, nb.create<arith::XOrIOp>(l, p1.getHigh(), ctr[1]), k0),
        p1.getLow(),
        nb.create<arith::XOrIOp>(l, nb.create<arith::XOrIOp>(l, p0.getHigh(), ctr[3]), k1),
        p0.getLow()};
    ctr = next;
    k0 = nb.create<arith::AddIOp>(l, k0, c32(0x9E3779B9));
    k1 = nb.create<arith::AddIOp>(l, k1, c32(0xBB67AE85));
  }
  (void)i64;
  return ctr;
}

/// (word >> 8) * 2^-24 (+ `plusOne` ulp) as f64.
Value unitFromWord(OpBuilder &nb, Location l, Value word, bool plusOne) {
  Value shifted = nb.create<arith::ShRUIOp>(
      l, word, nb.create<arith::ConstantOp>(l, nb.getI32IntegerAttr(8)));
  Value f = nb.create<arith::UIToFPOp>(l, nb.getF64Type(), shifted);
  if (plusOne)
    f = nb.create<arith::AddFOp>(l, f, floatConst(nb, l, nb.getF64Type(), 1.0));
  return nb.create<arith::MulFOp>(l, f, floatConst(nb, l, nb.getF64Type(), 0x1p-24));
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, x));
  return b.create<arith::DivFOp>(
      loc, floatConst(b, loc, t, 1.0),
      b.create<arith::AddFOp>(loc, floatConst(b, loc, t, 1.0), e));
}

Value silu(OpBuilder &b, Location loc, Value x) {
  return b.create<arith::MulFOp>(loc, x, sigmoid(b, loc, x));
}

} // namespace kiln::codegen::ptx
