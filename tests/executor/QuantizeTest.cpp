// The CPU kernels of quantize, dequantize and scaled_matmul (docs/OPS.md
// "Quantization"): hand-computed cases (scales, saturation, partial blocks,
// NaN, half-to-even integers, the f32 rounding order of the promotion),
// references for random inputs, thread independence and malformed steps.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "TestUtil.h"
#include "executor/DType.h"

namespace kiln {
namespace {
using namespace test;

int64_t ceilDiv(int64_t d, int64_t b) { return (d + b - 1) / b; }

Shape scaleShapeOf(const Shape &shape, const Shape &block) {
  Shape s(shape.size());
  for (size_t i = 0; i < shape.size(); ++i)
    s[i] = ceilDiv(shape[i], block[i]);
  return s;
}

Attrs quantAttrs(const Shape &block, proto::DType dtype) {
  return {{"block", attrInts(block)}, {"dtype", attrType(dtype)}};
}

absl::StatusOr<std::vector<HostTensor>> runQuantize(const HostTensor &x,
                                                    const Shape &block,
                                                    proto::DType dtype,
                                                    int threads = 2) {
  return runOp(
      "quantize", {x},
      {tt(dtype, x.shape()), tt(proto::F32, scaleShapeOf(x.shape(), block))},
      quantAttrs(block, dtype), threads);
}

struct Quantized {
  HostTensor q, scale;
};

Quantized quantize(const HostTensor &x, const Shape &block, proto::DType dtype,
                   int threads = 2) {
  auto r = runQuantize(x, block, dtype, threads);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok())
    return {};
  return {(*r)[0], (*r)[1]};
}

HostTensor dequantize(const HostTensor &q, const HostTensor &scale,
                      const Shape &block, proto::DType dtype) {
  return run1("dequantize", {q, scale}, tt(dtype, q.shape()),
              quantAttrs(block, dtype));
}

Attrs matmulAttrs(const Shape &aBlock, const Shape &bBlock, bool ta, bool tb,
                  proto::DType dtype) {
  return {{"a_block", attrInts(aBlock)},
          {"b_block", attrInts(bBlock)},
          {"transpose_a", attrB(ta)},
          {"transpose_b", attrB(tb)},
          {"dtype", attrType(dtype)}};
}

absl::StatusOr<std::vector<HostTensor>>
runScaledMatmul(const HostTensor &a, const HostTensor &as, const HostTensor &b,
                const HostTensor &bs, const Shape &aBlock, const Shape &bBlock,
                bool ta, bool tb, proto::DType dtype, int threads = 2) {
  int64_t m = a.dim(ta ? 1 : 0), n = b.dim(tb ? 0 : 1);
  return runOp("scaled_matmul", {a, as, b, bs}, {tt(dtype, {m, n})},
               matmulAttrs(aBlock, bBlock, ta, tb, dtype), threads);
}

HostTensor scaledMatmul(const HostTensor &a, const HostTensor &as,
                        const HostTensor &b, const HostTensor &bs,
                        const Shape &aBlock, const Shape &bBlock, bool ta,
                        bool tb, proto::DType dtype, int threads = 2) {
  auto r =
      runScaledMatmul(a, as, b, bs, aBlock, bBlock, ta, tb, dtype, threads);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok())
    return HostTensor();
  return (*r)[0];
}

std::vector<float> floats(const HostTensor &t) {
  std::vector<float> v(t.numElements());
  readAs(t, v.data());
  return v;
}

HostTensor f32(Shape shape, const std::vector<float> &v) {
  HostTensor t(proto::F32, std::move(shape));
  std::memcpy(t.data(), v.data(), v.size() * sizeof(float));
  return t;
}

/// Random finite float8 codes (every code but NaN and, for e5m2, infinity).
HostTensor randomF8(proto::DType dtype, Shape shape) {
  HostTensor t(dtype, std::move(shape));
  std::uniform_int_distribution<int> d(0, 255);
  for (int64_t i = 0; i < t.numElements(); ++i) {
    uint8_t c;
    do
      c = static_cast<uint8_t>(d(rng()));
    while (dtype == proto::F8E4M3FN ? (c & 0x7F) == 0x7F : (c & 0x7C) == 0x7C);
    t.data<uint8_t>()[i] = c;
  }
  return t;
}

bool sameBytes(const HostTensor &a, const HostTensor &b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

// ---- quantize ----

TEST(Quantize, RowBlocksToE4M3) {
  HostTensor x = f32({2, 3}, {1, -2, 448 * 2, 0, 0, 0});
  Quantized r = quantize(x, {1, 3}, proto::F8E4M3FN);
  // Row 0: amax 896, scale 2; row 1: amax 0, scale 0 -> 1.
  EXPECT_EQ(floats(r.scale), (std::vector<float>{2, 1}));
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{0.5, -1, 448, 0, 0, 0}));
  EXPECT_EQ(r.q.data<uint8_t>()[2], 0x7E); // 448, the largest finite
}

TEST(Quantize, HalfwayRoundsToEvenInE4M3) {
  // scale 1 (amax 448). 50 lies halfway between 48 and 52 (a quantum of 4
  // over [32, 64)): the even mantissa is 48's. Over [8, 16) the quantum is
  // 1: 13 is exact and 13.5 ties to 14.
  HostTensor x = f32({1, 5}, {448, 50, 13, 13.5, -50});
  Quantized r = quantize(x, {1, 5}, proto::F8E4M3FN);
  EXPECT_EQ(floats(r.scale), (std::vector<float>{1}));
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{448, 48, 13, 14, -48}));
}

TEST(Quantize, SaturatesWhereTheDivisionRoundsPastQmax) {
  // amax 19: scale = f32(19 / 448) is inexact and 19 / scale = 448.00003 in
  // f32, just past the largest finite; the result saturates to +-448.
  float scale = 19.0f / 448.0f;
  volatile float ratio = 19.0f / scale; // NOLINT: keep it an f32 division
  ASSERT_GT(ratio, 448.0f);
  HostTensor x = f32({3}, {19, -19, 0});
  Quantized r = quantize(x, {3}, proto::F8E4M3FN);
  EXPECT_EQ(floats(r.scale), (std::vector<float>{scale}));
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{448, -448, 0}));
  // i8 (amax 17: 17 / f32(17 / 127) = 127.000008) clamps to 127.
  Quantized i = quantize(f32({2}, {17, -17}), {2}, proto::I8);
  EXPECT_EQ(i.q.toDoubles(), (std::vector<double>{127, -127}));
}

TEST(Quantize, SaturatesWhereASubnormalScaleLosesPrecision) {
  // amax = 1000 * 2^-149: amax / 448 = 2.23 * 2^-149 rounds to the subnormal
  // 2 * 2^-149, and amax / scale = 500, beyond 448: float8 saturates (500
  // would otherwise round to 512, which e4m3fn lacks), integers clamp.
  const float tiny = std::numeric_limits<float>::denorm_min();
  Quantized f8 =
      quantize(f32({2}, {1000 * tiny, -3 * tiny}), {2}, proto::F8E4M3FN);
  EXPECT_EQ(floats(f8.scale), (std::vector<float>{2 * tiny}));
  EXPECT_EQ(f8.q.toDoubles(), (std::vector<double>{448, -1.5}));
  // i8: 300 * 2^-149 / 127 -> 2 * 2^-149, q = 150 -> 127.
  Quantized i8 = quantize(f32({1}, {-300 * tiny}), {1}, proto::I8);
  EXPECT_EQ(floats(i8.scale), (std::vector<float>{2 * tiny}));
  EXPECT_EQ(i8.q.toDoubles(), (std::vector<double>{-127}));
  // i4: 10 * 2^-149 / 7 -> 2^-149, q = 10 -> 7.
  Quantized i4 = quantize(f32({1}, {10 * tiny}), {1}, proto::I4);
  EXPECT_EQ(i4.q.toDoubles(), (std::vector<double>{7}));
  // amax / qmax underflowing to 0 is a scale of 0, which becomes 1.
  Quantized zero = quantize(f32({1}, {tiny}), {1}, proto::F8E4M3FN);
  EXPECT_EQ(floats(zero.scale), (std::vector<float>{1}));
  EXPECT_EQ(zero.q.toDoubles(), (std::vector<double>{0}));
}

TEST(Quantize, PartialLastBlock) {
  // [1, 5] in blocks of [1, 2]: scales [1, 3], the third over one element.
  HostTensor x = f32({1, 5}, {448, 224, -896, 100, 1344});
  Quantized r = quantize(x, {1, 2}, proto::F8E4M3FN);
  EXPECT_EQ(r.scale.shape(), (Shape{1, 3}));
  EXPECT_EQ(floats(r.scale), (std::vector<float>{1, 2, 3}));
  // 100 / 2 = 50 ties to 48.
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{448, 224, -448, 48, 448}));
}

TEST(Quantize, BlockLargerThanTheShapeIsOneBlock) {
  HostTensor x = f32({2, 3}, {1, 2, 3, -4, 5, -14});
  Quantized r = quantize(x, {4, 8}, proto::I8);
  EXPECT_EQ(r.scale.shape(), (Shape{1, 1}));
  const float scale = 14.0f / 127.0f;
  EXPECT_EQ(floats(r.scale), (std::vector<float>{scale}));
  std::vector<double> want;
  for (double v : x.toDoubles())
    want.push_back(std::nearbyint(static_cast<float>(v) / scale));
  EXPECT_EQ(r.q.toDoubles(), want);
  EXPECT_EQ(want.back(), -127);
}

TEST(Quantize, ColumnBlocksAndAScalar) {
  // [3, 2] in blocks of [2, 1]: rows {0, 1} and {2} of each column.
  HostTensor x = f32({3, 2}, {7, 1, -14, 2, 3.5, -21});
  Quantized r = quantize(x, {2, 1}, proto::I4);
  EXPECT_EQ(r.scale.shape(), (Shape{2, 2}));
  EXPECT_EQ(floats(r.scale), (std::vector<float>{2, 2.0f / 7, 0.5, 3}));
  // 7 / 2 = 3.5 ties to 4; but the scale f32(2 / 7) is a little above 2/7,
  // so 1 / scale = 3.4999998 in f32 and rounds to 3 (2 / scale to 7).
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{4, 3, -7, 7, 7, -7}));
  Quantized s = quantize(f32({}, {-896}), {}, proto::F8E4M3FN);
  EXPECT_EQ(s.scale.shape(), Shape{});
  EXPECT_EQ(floats(s.scale), (std::vector<float>{2}));
  EXPECT_EQ(s.q.toDoubles(), (std::vector<double>{-448}));
}

TEST(Quantize, NaNPoisonsItsBlockOnly) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  HostTensor x = f32({1, 4}, {1, nan, 896, 448});
  Quantized f8 = quantize(x, {1, 2}, proto::F8E4M3FN);
  std::vector<float> s = floats(f8.scale);
  EXPECT_TRUE(std::isnan(s[0]));
  EXPECT_EQ(s[1], 2);
  std::vector<double> q = f8.q.toDoubles();
  EXPECT_TRUE(std::isnan(q[0]));
  EXPECT_TRUE(std::isnan(q[1]));
  EXPECT_EQ(q[2], 448);
  EXPECT_EQ(q[3], 224);
  // NaN first in its block, before larger and smaller values.
  Quantized last = quantize(f32({3}, {nan, 5, -1}), {3}, proto::F8E5M2);
  EXPECT_TRUE(std::isnan(floats(last.scale)[0]));
  for (double v : last.q.toDoubles())
    EXPECT_TRUE(std::isnan(v));
  // Integers: NaN -> 0, and so is everything divided by the NaN scale.
  Quantized i4 = quantize(x, {1, 2}, proto::I4);
  EXPECT_TRUE(std::isnan(floats(i4.scale)[0]));
  EXPECT_EQ(i4.q.toDoubles(), (std::vector<double>{0, 0, 7, 4}));
  // An infinity: amax = scale = inf, inf / inf is NaN and finite / inf is 0.
  const float inf = std::numeric_limits<float>::infinity();
  Quantized i8 = quantize(f32({2}, {-inf, 3}), {2}, proto::I8);
  EXPECT_EQ(floats(i8.scale), (std::vector<float>{inf}));
  EXPECT_EQ(i8.q.toDoubles(), (std::vector<double>{0, 0}));
}

TEST(Quantize, IntegersRoundHalfToEven) {
  HostTensor x = f32({1, 5}, {7, -7, 3.5, 2.5, -0.5});
  Quantized i4 = quantize(x, {1, 5}, proto::I4);
  EXPECT_EQ(floats(i4.scale), (std::vector<float>{1}));
  EXPECT_EQ(i4.q.toDoubles(), (std::vector<double>{7, -7, 4, 2, 0}));
  // i4 is stored packed, element 2j in the low nibble of byte j: 7 and -7
  // (0x9) share byte 0, 4 and 2 byte 1, and 0 leaves byte 2's high nibble 0.
  ASSERT_EQ(i4.q.byteSize(), 3);
  EXPECT_EQ(i4.q.data<uint8_t>()[0], 0x97);
  EXPECT_EQ(i4.q.data<uint8_t>()[1], 0x24);
  EXPECT_EQ(i4.q.data<uint8_t>()[2], 0x00);
  HostTensor y = f32({1, 6}, {127, -1.5, -2.5, 0.5, 1.5, 126.5});
  Quantized i8 = quantize(y, {1, 6}, proto::I8);
  EXPECT_EQ(floats(i8.scale), (std::vector<float>{1}));
  EXPECT_EQ(i8.q.toDoubles(), (std::vector<double>{127, -2, -2, 0, 2, 126}));
}

TEST(Quantize, Bf16AndF16Inputs) {
  for (proto::DType in : {proto::BF16, proto::F16}) {
    HostTensor x = HostTensor::fromDoubles(in, {2, 3}, {1, -2, 896, 0, 0, 0});
    Quantized r = quantize(x, {1, 3}, proto::F8E4M3FN);
    EXPECT_EQ(floats(r.scale), (std::vector<float>{2, 1})) << dtypeName(in);
    EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{0.5, -1, 448, 0, 0, 0}))
        << dtypeName(in);
  }
  // bf16 to e5m2: amax 448, scale 448 / 57344 = 2^-7 exactly; 1 + 2^-7
  // becomes 129, which e5m2 (a quantum of 32 over [128, 256)) rounds to 128.
  HostTensor x = HostTensor::fromDoubles(proto::BF16, {2}, {1.0078125, -448});
  Quantized r = quantize(x, {2}, proto::F8E5M2);
  EXPECT_EQ(floats(r.scale), (std::vector<float>{0x1p-7f}));
  EXPECT_EQ(r.q.toDoubles(), (std::vector<double>{128, -57344}));
}

/// quantize by the letter of docs/OPS.md, element by element.
Quantized referenceQuantize(const HostTensor &x, const Shape &block,
                            proto::DType dtype) {
  Shape ss = scaleShapeOf(x.shape(), block);
  Quantized r{HostTensor(dtype, x.shape()), HostTensor(proto::F32, ss)};
  std::vector<float> xv = floats(x);
  auto blockOf = [&](int64_t flat) {
    std::vector<int64_t> idx = unravel(flat, x.shape());
    int64_t b = 0;
    for (size_t d = 0; d < idx.size(); ++d)
      b = b * ss[d] + idx[d] / block[d];
    return b;
  };
  std::vector<float> amax(r.scale.numElements(), 0.0f);
  for (int64_t i = 0; i < x.numElements(); ++i) {
    float &a = amax[blockOf(i)];
    if (std::isnan(xv[i]) || std::isnan(a))
      a = std::numeric_limits<float>::quiet_NaN();
    else
      a = std::max(a, std::fabs(xv[i]));
  }
  float *scale = r.scale.data<float>();
  for (size_t b = 0; b < amax.size(); ++b) {
    scale[b] = amax[b] / *quantizedMax(dtype);
    if (scale[b] == 0)
      scale[b] = 1;
  }
  for (int64_t i = 0; i < x.numElements(); ++i) {
    float v = xv[i] / scale[blockOf(i)];
    if (dtype == proto::F8E4M3FN) {
      r.q.data<uint8_t>()[i] = floatToF8E4M3FN(v);
    } else if (dtype == proto::F8E5M2) {
      r.q.data<uint8_t>()[i] = floatToF8E5M2(v);
    } else {
      float qm = *quantizedMax(dtype);
      float n = std::isnan(v) ? 0 : std::nearbyint(v);
      r.q.setInt(i, static_cast<int64_t>(std::clamp(n, -qm, qm)));
    }
  }
  return r;
}

TEST(Quantize, Rank3BlocksMatchTheLetterOfTheSpec) {
  for (proto::DType dtype :
       {proto::F8E4M3FN, proto::F8E5M2, proto::I8, proto::I4}) {
    for (Shape block : {Shape{2, 1, 3}, Shape{1, 4, 7}, Shape{3, 5, 2}}) {
      HostTensor x = randomTensor(proto::F32, {3, 5, 7}, -5, 5);
      x.data<float>()[17] = 0; // a zero somewhere
      Quantized got = quantize(x, block, dtype);
      Quantized want = referenceQuantize(x, block, dtype);
      EXPECT_TRUE(sameBytes(got.scale, want.scale)) << dtypeName(dtype);
      EXPECT_TRUE(sameBytes(got.q, want.q)) << dtypeName(dtype);
    }
  }
}

TEST(Quantize, ThreadsDoNotChangeTheBits) {
  HostTensor x = randomTensor(proto::F32, {64, 1000}, -3, 3);
  for (Shape block : {Shape{16, 128}, Shape{64, 1000}, Shape{1, 1}}) {
    Quantized one = quantize(x, block, proto::F8E4M3FN, 1);
    Quantized four = quantize(x, block, proto::F8E4M3FN, 4);
    EXPECT_TRUE(sameBytes(one.q, four.q));
    EXPECT_TRUE(sameBytes(one.scale, four.scale));
    Quantized want = referenceQuantize(x, block, proto::F8E4M3FN);
    EXPECT_TRUE(sameBytes(four.q, want.q));
    EXPECT_TRUE(sameBytes(four.scale, want.scale));
  }
}

// ---- dequantize ----

TEST(Dequantize, HandComputed) {
  HostTensor q = HostTensor::fromDoubles(proto::F8E4M3FN, {2, 3},
                                         {0.5, -1, 448, 0, 3, -0.25});
  HostTensor scale = f32({2, 1}, {2, 0.5});
  EXPECT_EQ(dequantize(q, scale, {1, 3}, proto::F32).toDoubles(),
            (std::vector<double>{1, -2, 896, 0, 1.5, -0.125}));
  EXPECT_EQ(dequantize(q, scale, {1, 3}, proto::BF16).toDoubles(),
            (std::vector<double>{1, -2, 896, 0, 1.5, -0.125}));
  // Integers, a partial last block along the row.
  HostTensor i4 = ints(proto::I4, {1, 3}, {-8, 7, -1});
  EXPECT_EQ(
      dequantize(i4, f32({1, 2}, {0.5, 3}), {1, 2}, proto::F32).toDoubles(),
      (std::vector<double>{-4, 3.5, -3}));
  HostTensor i8 = ints(proto::I8, {2}, {-127, 5});
  EXPECT_EQ(dequantize(i8, f32({1}, {0.5}), {2}, proto::F16).toDoubles(),
            (std::vector<double>{-63.5, 2.5}));
  // f16 overflows to infinity (448 * 1000 > 65504); NaN scales carry.
  HostTensor big = HostTensor::fromDoubles(proto::F8E4M3FN, {2}, {448, 1});
  std::vector<double> y =
      dequantize(big, f32({2}, {1000, NAN}), {1}, proto::F16).toDoubles();
  EXPECT_TRUE(std::isinf(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
}

TEST(Dequantize, RoundsTheF32ProductOnce) {
  // y = dtype(f32(q) * scale): the product is rounded to f32, then to dtype.
  HostTensor q = randomF8(proto::F8E5M2, {4, 33});
  HostTensor scale = randomTensor(proto::F32, {2, 5}, 0.01, 3);
  std::vector<float> qv = floats(q), sv = floats(scale);
  for (proto::DType dtype : {proto::F32, proto::BF16, proto::F16}) {
    HostTensor y = dequantize(q, scale, {2, 7}, dtype);
    for (int64_t i = 0; i < q.numElements(); ++i) {
      int64_t r = i / 33, c = i % 33;
      float p = qv[i] * sv[(r / 2) * 5 + c / 7];
      uint32_t want = dtype == proto::F32    ? std::bit_cast<uint32_t>(p)
                      : dtype == proto::BF16 ? floatToBf16(p)
                                             : floatToF16(p);
      uint32_t got =
          dtype == proto::F32 ? y.data<uint32_t>()[i] : y.data<uint16_t>()[i];
      ASSERT_EQ(got, want) << dtypeName(dtype) << " element " << i;
    }
  }
}

TEST(Dequantize, RoundTripWithinHalfAnUlpOfQ) {
  // |dequantize(quantize(x)) - x| <= half an ulp of q, times the scale: a
  // relative 2^-4 (e4m3) or 2^-3 (e5m2) of x, or half the smallest subnormal
  // times the scale; i8 half a unit. Plus f32 rounding of the two steps.
  struct Case {
    proto::DType dtype;
    double rel, subnormalHalf;
  };
  for (Case c :
       {Case{proto::F8E4M3FN, 0x1p-4, 0x1p-10},
        Case{proto::F8E5M2, 0x1p-3, 0x1p-17}, Case{proto::I8, 0, 0.5}}) {
    HostTensor x = randomTensor(proto::F32, {8, 300}, -3, 3);
    Shape block = {1, 128};
    Quantized r = quantize(x, block, c.dtype);
    std::vector<float> y = floats(dequantize(r.q, r.scale, block, proto::F32));
    std::vector<float> xv = floats(x), s = floats(r.scale);
    double worst = 0;
    for (int64_t i = 0; i < x.numElements(); ++i) {
      double sc = s[(i / 300) * 3 + (i % 300) / 128];
      double bound = (c.rel + 1e-6) * std::fabs(xv[i]) + c.subnormalHalf * sc;
      double err = std::fabs(double(y[i]) - xv[i]);
      worst = std::max(worst, err / bound);
      ASSERT_LE(err, bound) << dtypeName(c.dtype) << " element " << i;
    }
    EXPECT_GT(worst, 0.1) << "the bound is loose enough to hide a bug";
  }
}

TEST(Dequantize, RoundTripIsExactOnTheGrid) {
  // x = e4m3 values times 0.25 with 448 * 0.25 in every block: scale 0.25.
  HostTensor codes = randomF8(proto::F8E4M3FN, {6, 40});
  std::vector<float> xv = floats(codes);
  for (float &v : xv)
    v *= 0.25f;
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 40; c += 16)
      xv[r * 40 + c] = 112;
  HostTensor x = f32({6, 40}, xv);
  Quantized q = quantize(x, {1, 16}, proto::F8E4M3FN);
  for (float s : floats(q.scale))
    EXPECT_EQ(s, 0.25f);
  EXPECT_TRUE(sameBytes(dequantize(q.q, q.scale, {1, 16}, proto::F32), x));
  // The same through bf16 (every e4m3 value times 2^-2 is a bf16 value).
  HostTensor xb = HostTensor::fromDoubles(proto::BF16, {6, 40}, x.toDoubles());
  Quantized qb = quantize(xb, {1, 16}, proto::F8E4M3FN);
  EXPECT_TRUE(sameBytes(qb.q, q.q));
  EXPECT_TRUE(sameBytes(dequantize(qb.q, qb.scale, {1, 16}, proto::BF16), xb));
}

// ---- scaled_matmul ----

TEST(ScaledMatmul, PromotionIsPerKBlock) {
  // K = 2 in blocks of 1: every product has its own scales.
  // 1 * 3 * (2 * 0.25) + 2 * 0.5 * (4 * 8) = 1.5 + 32.
  HostTensor a = HostTensor::fromDoubles(proto::F8E4M3FN, {1, 2}, {1, 2});
  HostTensor b = HostTensor::fromDoubles(proto::F8E4M3FN, {2, 1}, {3, 0.5});
  HostTensor y = scaledMatmul(a, f32({1, 2}, {2, 4}), b, f32({2, 1}, {0.25, 8}),
                              {1, 1}, {1, 1}, false, false, proto::F32);
  EXPECT_EQ(y.toDoubles(), (std::vector<double>{33.5}));

  // 2x2 with both transposed: a stored [K, M], b stored [N, K]; scales
  // indexed through the stored layouts. a = [[1, 2], [-1, 0.5]] (M x K),
  // b = [[1, -2], [4, 1]] (K x N).
  HostTensor at = HostTensor::fromDoubles(proto::F8E4M3FN, {2, 2},
                                          {1, -1, 2, 0.5}); // [k][m]
  HostTensor bt =
      HostTensor::fromDoubles(proto::F8E5M2, {2, 2}, {1, 4, -2, 1}); // [n][k]
  // a_scale [K, M]: sa(m, k) = asT[k][m]; b_scale [N, K]: sb(k, n) = bsT[n][k].
  HostTensor asT = f32({2, 2}, {1, 2, 0.5, 4});
  HostTensor bsT = f32({2, 2}, {2, 0.25, 1, 8});
  y = scaledMatmul(at, asT, bt, bsT, {1, 1}, {1, 1}, true, true, proto::F32);
  // y[m][n] = sum_k a[m][k] * b[k][n] * sa(m, k) * sb(k, n):
  //  y00 = 1*1*1*2 + 2*4*0.5*0.25 = 2 + 1 = 3
  //  y01 = 1*-2*1*1 + 2*1*0.5*8 = -2 + 8 = 6
  //  y10 = -1*1*2*2 + 0.5*4*4*0.25 = -4 + 2 = -2
  //  y11 = -1*-2*2*1 + 0.5*1*4*8 = 4 + 16 = 20
  EXPECT_EQ(y.toDoubles(), (std::vector<double>{3, 6, -2, 20}));
}

TEST(ScaledMatmul, F32RoundingOrder) {
  // acc + P * (sa * sb), each operation rounded in f32.
  // Block 0: P = -1, scale 3 + 2^-21: acc = -(3 + 2^-21). Block 1: P = 1.5 * 2
  // = 3, scale 1 + 2^-23: P * s = 3 + 3 * 2^-23 ties (ulp 2^-22) to the even
  // 3 + 2^-21, so acc = 0 exactly; a fused multiply-add, or a double
  // reference, gives -2^-23.
  HostTensor a = HostTensor::fromDoubles(proto::F8E4M3FN, {1, 2}, {-1, 1.5});
  HostTensor b = HostTensor::fromDoubles(proto::F8E4M3FN, {2, 1}, {1, 2});
  HostTensor y = scaledMatmul(a, f32({1, 2}, {3 + 0x1p-21f, 1 + 0x1p-23f}), b,
                              f32({2, 1}, {1, 1}), {1, 1}, {1, 1}, false, false,
                              proto::F32);
  EXPECT_EQ(y.data<float>()[0], 0.0f);
  // The scales multiply first: (1 + 2^-23)^2 -> 1 + 2^-22, times 3 is exact,
  // plus 0.5: 3.5 + 3 * 2^-22. (P * sa) * sb would round twice to
  // 3.5 + 2^-20.
  HostTensor a2 = HostTensor::fromDoubles(proto::F8E4M3FN, {1, 2}, {0.5, 1.5});
  y = scaledMatmul(a2, f32({1, 2}, {1, 1 + 0x1p-23f}), b,
                   f32({2, 1}, {1, 1 + 0x1p-23f}), {1, 1}, {1, 1}, false, false,
                   proto::F32);
  EXPECT_EQ(y.data<float>()[0], 3.5f + 3 * 0x1p-22f);
}

/// sum over K blocks of sa * sb * sum(a * b), in double; also the sum of the
/// terms' magnitudes (the scale of f32's rounding error).
void referenceScaledMatmul(const HostTensor &a, const HostTensor &as,
                           const HostTensor &b, const HostTensor &bs,
                           const Shape &aBlock, const Shape &bBlock, bool ta,
                           bool tb, std::vector<double> &ref,
                           std::vector<double> &mag) {
  int64_t m = a.dim(ta ? 1 : 0), k = a.dim(ta ? 0 : 1), n = b.dim(tb ? 0 : 1);
  int64_t bk = std::min(aBlock[ta ? 0 : 1], k);
  std::vector<double> av = a.toDoubles(), bv = b.toDoubles();
  std::vector<double> asv = as.toDoubles(), bsv = bs.toDoubles();
  int64_t aCols = as.dim(1), bCols = bs.dim(1);
  ref.assign(m * n, 0);
  mag.assign(m * n, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k0 = 0; k0 < k; k0 += bk) {
        double sa = ta ? asv[k0 / aBlock[0] * aCols + i / aBlock[1]]
                       : asv[i / aBlock[0] * aCols + k0 / aBlock[1]];
        double sb = tb ? bsv[j / bBlock[0] * bCols + k0 / bBlock[1]]
                       : bsv[k0 / bBlock[0] * bCols + j / bBlock[1]];
        double p = 0, pm = 0;
        for (int64_t kk = k0; kk < std::min(k0 + bk, k); ++kk) {
          double x = av[ta ? kk * m + i : i * k + kk];
          double w = bv[tb ? j * k + kk : kk * n + j];
          p += x * w;
          pm += std::fabs(x * w);
        }
        ref[i * n + j] += sa * sb * p;
        mag[i * n + j] += sa * sb * pm;
      }
}

TEST(ScaledMatmul, MatchesADoubleReferenceInEveryLayout) {
  const int64_t m = 5, n = 7, k = 200;
  struct Case {
    int64_t aK, bK; // K block sizes (capped at K: 512 and 300 are one block)
    proto::DType aType, bType;
  };
  for (Case c : {Case{128, 128, proto::F8E4M3FN, proto::F8E4M3FN},
                 Case{512, 300, proto::F8E4M3FN, proto::F8E5M2},
                 Case{64, 64, proto::F8E5M2, proto::F8E4M3FN}})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        // Partial blocks along M (2) and N (3) as well as along K.
        Shape aShape = ta ? Shape{k, m} : Shape{m, k};
        Shape bShape = tb ? Shape{n, k} : Shape{k, n};
        Shape aBlock = ta ? Shape{c.aK, 2} : Shape{2, c.aK};
        Shape bBlock = tb ? Shape{3, c.bK} : Shape{c.bK, 3};
        HostTensor a = randomF8(c.aType, aShape);
        HostTensor b = randomF8(c.bType, bShape);
        HostTensor as =
            randomTensor(proto::F32, scaleShapeOf(aShape, aBlock), 0.001, 0.01);
        HostTensor bs =
            randomTensor(proto::F32, scaleShapeOf(bShape, bBlock), 1e-5, 1e-4);
        HostTensor y =
            scaledMatmul(a, as, b, bs, aBlock, bBlock, ta, tb, proto::F32);
        std::vector<double> ref, mag;
        referenceScaledMatmul(a, as, b, bs, aBlock, bBlock, ta, tb, ref, mag);
        std::vector<double> got = y.toDoubles();
        ASSERT_EQ(got.size(), ref.size());
        double worst = 0;
        for (size_t i = 0; i < ref.size(); ++i) {
          // At most ~130 roundings of 2^-24 each along any one sum.
          double err = std::fabs(got[i] - ref[i]);
          EXPECT_LE(err, 1e-5 * mag[i])
              << "ta " << ta << " tb " << tb << " aK " << c.aK << " element "
              << i << ": got " << got[i] << ", want " << ref[i];
          if (mag[i] > 0)
            worst = std::max(worst, err / mag[i]);
        }
        EXPECT_LT(worst, 1e-6)
            << "typical f32 error, ta " << ta << " tb " << tb;
        // bf16 and f16 results are the f32 result rounded once.
        HostTensor yb =
            scaledMatmul(a, as, b, bs, aBlock, bBlock, ta, tb, proto::BF16);
        HostTensor yh =
            scaledMatmul(a, as, b, bs, aBlock, bBlock, ta, tb, proto::F16);
        for (int64_t i = 0; i < y.numElements(); ++i) {
          EXPECT_EQ(yb.data<uint16_t>()[i], floatToBf16(y.data<float>()[i]));
          EXPECT_EQ(yh.data<uint16_t>()[i], floatToF16(y.data<float>()[i]));
        }
      }
}

TEST(ScaledMatmul, ThreadsDoNotChangeTheBits) {
  const int64_t m = 33, n = 70, k = 300;
  HostTensor a = randomF8(proto::F8E4M3FN, {m, k});
  HostTensor b = randomF8(proto::F8E4M3FN, {n, k});
  HostTensor as = randomTensor(proto::F32, {m, 3}, 0.5, 2);
  HostTensor bs = randomTensor(proto::F32, {1, 3}, 0.5, 2);
  HostTensor one = scaledMatmul(a, as, b, bs, {1, 128}, {128, 128}, false, true,
                                proto::F32, 1);
  HostTensor four = scaledMatmul(a, as, b, bs, {1, 128}, {128, 128}, false,
                                 true, proto::F32, 4);
  EXPECT_TRUE(sameBytes(one, four));
}

TEST(ScaledMatmul, EmptyShapes) {
  // K = 0: every output is 0; M = 0: no output.
  HostTensor a = randomF8(proto::F8E4M3FN, {3, 0});
  HostTensor b = randomF8(proto::F8E4M3FN, {0, 2});
  HostTensor y = scaledMatmul(a, HostTensor(proto::F32, {3, 0}), b,
                              HostTensor(proto::F32, {0, 1}), {1, 128},
                              {128, 128}, false, false, proto::F32);
  EXPECT_EQ(y.toDoubles(), (std::vector<double>(6, 0.0)));
}

// ---- malformed steps: errors naming the op, never a crash ----

void expectError(const absl::StatusOr<std::vector<HostTensor>> &r,
                 const std::string &op, const std::string &what) {
  ASSERT_FALSE(r.ok()) << op << ": expected an error about " << what;
  std::string msg(r.status().message());
  EXPECT_NE(msg.find("kiln." + op + " at test.cc:1:1"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(what), std::string::npos) << msg;
}

TEST(QuantErrors, Quantize) {
  HostTensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto run = [&](const HostTensor &in, Shape block, proto::DType dtype,
                 Shape scaleShape) {
    return runOp("quantize", {in},
                 {tt(dtype, in.shape()), tt(proto::F32, scaleShape)},
                 quantAttrs(block, dtype));
  };
  expectError(run(x, {1}, proto::F8E4M3FN, {2}), "quantize", "block");
  expectError(run(x, {1, 0}, proto::F8E4M3FN, {2, 4}), "quantize", "block");
  expectError(run(x, {1, 2}, proto::F32, {2, 2}), "quantize", "dtype");
  expectError(run(ints(proto::I32, {2}, {1, 2}), {1}, proto::I8, {2}),
              "quantize", "x must be");
  expectError(run(x, {1, 2}, proto::I8, {2, 3}), "quantize", "result 1");
  expectError(runOp("quantize", {x}, {tt(proto::F8E4M3FN, {2, 4})},
                    quantAttrs({1, 2}, proto::F8E4M3FN)),
              "quantize", "results");
  expectError(runOp("quantize", {x},
                    {tt(proto::I8, {2, 4}), tt(proto::F32, {2, 2})},
                    {{"block", attrInts({1, 2})}}),
              "quantize", "dtype");
}

TEST(QuantErrors, Dequantize) {
  HostTensor q = randomF8(proto::F8E4M3FN, {2, 4});
  auto run = [&](const HostTensor &in, const HostTensor &scale, Shape block,
                 proto::DType dtype) {
    return runOp("dequantize", {in, scale}, {tt(dtype, in.shape())},
                 quantAttrs(block, dtype));
  };
  expectError(run(q, HostTensor(proto::F32, {2, 3}), {1, 2}, proto::F32),
              "dequantize", "scale");
  expectError(run(q, HostTensor(proto::BF16, {2, 2}), {1, 2}, proto::F32),
              "dequantize", "scale");
  expectError(run(q, HostTensor(proto::F32, {2}), {2}, proto::F32),
              "dequantize", "block");
  expectError(run(q, HostTensor(proto::F32, {2, 2}), {1, 2}, proto::I8),
              "dequantize", "dtype");
  expectError(run(HostTensor(proto::F32, {2, 4}),
                  HostTensor(proto::F32, {2, 2}), {1, 2}, proto::F32),
              "dequantize", "q must be");
  expectError(runOp("dequantize", {q, HostTensor(proto::F32, {2, 2})},
                    {tt(proto::F32, {4, 2})}, quantAttrs({1, 2}, proto::F32)),
              "dequantize", "result 0");
}

TEST(QuantErrors, ScaledMatmul) {
  HostTensor a = randomF8(proto::F8E4M3FN, {4, 256});
  HostTensor b = randomF8(proto::F8E4M3FN, {256, 8});
  HostTensor as(proto::F32, {4, 2}), bs(proto::F32, {2, 1});
  Shape aBlock = {1, 128}, bBlock = {128, 128};
  auto run = [&](const HostTensor &x, const HostTensor &xs, const HostTensor &w,
                 const HostTensor &ws, Shape xb, Shape wb, bool ta, bool tb) {
    return runOp("scaled_matmul", {x, xs, w, ws}, {tt(proto::F32, {4, 8})},
                 matmulAttrs(xb, wb, ta, tb, proto::F32));
  };
  ASSERT_TRUE(run(a, as, b, bs, aBlock, bBlock, false, false).ok());
  expectError(run(a, HostTensor(proto::F32, {4, 3}), b, bs, aBlock, bBlock,
                  false, false),
              "scaled_matmul", "a's scale");
  expectError(run(a, as, b, HostTensor(proto::F32, {1, 2}), aBlock, bBlock,
                  false, false),
              "scaled_matmul", "b's scale");
  // b transposed reads [8, 256] as [N, K]: b's own [256, 8] has K = 8.
  expectError(run(a, as, b, HostTensor(proto::F32, {2, 1}), aBlock, bBlock,
                  false, true),
              "scaled_matmul", "contraction");
  expectError(run(a, HostTensor(proto::F32, {4, 4}), b, bs, {1, 64}, bBlock,
                  false, false),
              "scaled_matmul", "promotion interval");
  expectError(run(a, as, b, bs, {1}, bBlock, false, false), "scaled_matmul",
              "a_block");
  expectError(run(a, as, b, bs, aBlock, {128, -1}, false, false),
              "scaled_matmul", "b_block");
  HostTensor bf = randomTensor(proto::BF16, {256, 8});
  expectError(run(a, as, bf, bs, aBlock, bBlock, false, false), "scaled_matmul",
              "f8E4M3FN or f8E5M2");
  HostTensor a3 = randomF8(proto::F8E4M3FN, {1, 4, 256});
  expectError(run(a3, as, b, bs, aBlock, bBlock, false, false), "scaled_matmul",
              "matrices");
  expectError(runOp("scaled_matmul", {a, as, b, bs}, {tt(proto::F32, {4, 8})},
                    matmulAttrs(aBlock, bBlock, false, false, proto::I8)),
              "scaled_matmul", "dtype");
  expectError(runOp("scaled_matmul", {a, as, b, bs}, {tt(proto::F32, {8, 4})},
                    matmulAttrs(aBlock, bBlock, false, false, proto::F32)),
              "scaled_matmul", "result 0");
  expectError(runOp("scaled_matmul", {a, as, b}, {tt(proto::F32, {4, 8})},
                    matmulAttrs(aBlock, bBlock, false, false, proto::F32)),
              "scaled_matmul", "operands");
}

} // namespace
} // namespace kiln
