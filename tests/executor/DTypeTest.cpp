// Exhaustive checks of the narrow-float codecs, dtype facts and HostTensor basics.
#include <bit>
#include <cmath>
#include <limits>

#include "TestUtil.h"
#include "executor/DType.h"

namespace kiln {
namespace {

TEST(DType, NamesAndSizes) {
  for (int d = proto::F32; d <= proto::I1; ++d) {
    proto::DType t = static_cast<proto::DType>(d);
    auto parsed = parseDType(dtypeName(t));
    ASSERT_TRUE(parsed.has_value()) << dtypeName(t);
    EXPECT_EQ(*parsed, t);
    EXPECT_GT(storageBytes(t), 0);
  }
  EXPECT_STREQ(dtypeName(proto::F8E4M3FN), "f8E4M3FN");
  EXPECT_EQ(storageBytes(proto::BF16), 2);
  EXPECT_EQ(storageBytes(proto::I4), 1);
  EXPECT_EQ(storageBits(proto::I4), 4);
  EXPECT_EQ(storageBits(proto::I1), 8);
  EXPECT_EQ(storageBits(proto::BF16), 16);
  EXPECT_EQ(storageBits(proto::DTYPE_INVALID), 0);
  EXPECT_EQ(bufferBytes(proto::I4, 7), 4);
  EXPECT_EQ(bufferBytes(proto::I4, 8), 4);
  EXPECT_EQ(bufferBytes(proto::I4, 0), 0);
  EXPECT_EQ(bufferBytes(proto::F32, 7), 28);
  EXPECT_EQ(bufferBytes(makeType(proto::I4, {3, 5})), 8);
  EXPECT_FALSE(parseDType("f31").has_value());
  EXPECT_TRUE(isFloat(proto::F8E5M2));
  EXPECT_TRUE(isInteger(proto::I4));
  EXPECT_FALSE(isInteger(proto::I1));
}

TEST(DType, Bf16RoundTripsAllCodes) {
  for (uint32_t c = 0; c < 65536; ++c) {
    float f = bf16ToFloat(static_cast<uint16_t>(c));
    EXPECT_EQ(floatToBf16(f), c) << c; // NaN payloads survive too
    if (!std::isnan(f))
      EXPECT_EQ(doubleToBf16(f), c) << c;
    else
      EXPECT_TRUE(std::isnan(bf16ToFloat(doubleToBf16(f))));
  }
}

TEST(DType, F16RoundTripsAllCodes) {
  for (uint32_t c = 0; c < 65536; ++c) {
    float f = f16ToFloat(static_cast<uint16_t>(c));
    if (std::isnan(f))
      EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(f))));
    else
      EXPECT_EQ(floatToF16(f), c) << c;
  }
  EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24)); // smallest subnormal
  EXPECT_EQ(f16ToFloat(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(f16ToFloat(0x7C00)));
}

TEST(DType, F8RoundTripsAllCodes) {
  for (uint32_t c = 0; c < 256; ++c) {
    float a = f8E4M3FNToFloat(static_cast<uint8_t>(c));
    if (std::isnan(a))
      EXPECT_TRUE(std::isnan(f8E4M3FNToFloat(floatToF8E4M3FN(a))));
    else
      EXPECT_EQ(floatToF8E4M3FN(a), c) << c;
    float b = f8E5M2ToFloat(static_cast<uint8_t>(c));
    if (std::isnan(b))
      EXPECT_TRUE(std::isnan(f8E5M2ToFloat(floatToF8E5M2(b))));
    else if (std::isinf(b)) // saturating: infinity goes to the largest finite
      EXPECT_EQ(f8E5M2ToFloat(floatToF8E5M2(b)), std::copysign(57344.0f, b));
    else
      EXPECT_EQ(floatToF8E5M2(b), c) << c;
  }
  EXPECT_EQ(f8E4M3FNToFloat(0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(f8E4M3FNToFloat(0x7F)));
  EXPECT_EQ(f8E4M3FNToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f8E5M2ToFloat(0x7B), 57344.0f);
}

TEST(DType, TiesToEven) {
  // bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> even (1).
  EXPECT_EQ(bf16ToFloat(floatToBf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);
  EXPECT_EQ(bf16ToFloat(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8))),
            1.0f + std::ldexp(1.0f, -6));
  EXPECT_EQ(bf16ToFloat(doubleToBf16(1.0 + std::ldexp(1.0, -8))), 1.0f);
  // Just above the tie rounds up (double input: single rounding, no double rounding).
  EXPECT_EQ(bf16ToFloat(doubleToBf16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40))),
            1.0f + std::ldexp(1.0f, -7));
  // f16: 1 + 2^-11 -> 1; 1 + 3*2^-11 -> 1 + 2^-9.
  EXPECT_EQ(f16ToFloat(floatToF16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(f16ToFloat(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + std::ldexp(1.0f, -9));
  // e4m3: 1.0625 between 1 and 1.125 -> 1; 1.1875 -> 1.25.
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(1.0625f)), 1.0f);
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(1.1875f)), 1.25f);
  // Subnormal tie: half the smallest subnormal rounds to zero (even).
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(std::ldexp(1.0f, -10))), 0.0f);
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(3 * std::ldexp(1.0f, -10))), std::ldexp(1.0f, -8));
  // f16 overflow goes to infinity once past the rounding boundary.
  EXPECT_EQ(f16ToFloat(floatToF16(65519.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(f16ToFloat(floatToF16(65520.0f))));
}

TEST(DType, F8Saturates) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(1e6f)), 448.0f);
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(-inf)), -448.0f);
  EXPECT_EQ(f8E4M3FNToFloat(floatToF8E4M3FN(464.0f)), 448.0f);
  EXPECT_EQ(f8E5M2ToFloat(floatToF8E5M2(inf)), 57344.0f);
  EXPECT_EQ(f8E5M2ToFloat(floatToF8E5M2(-1e9f)), -57344.0f);
  EXPECT_TRUE(std::isnan(f8E4M3FNToFloat(floatToF8E4M3FN(NAN))));
  EXPECT_TRUE(std::isnan(f8E5M2ToFloat(floatToF8E5M2(NAN))));
  EXPECT_TRUE(std::isinf(bf16ToFloat(floatToBf16(inf))));
}

TEST(DType, IntWrapAndSaturate) {
  EXPECT_EQ(wrapInt(130, proto::I8), -126);
  EXPECT_EQ(wrapInt(9, proto::I4), -7);
  EXPECT_EQ(wrapInt(-9, proto::I4), 7);
  EXPECT_EQ(wrapInt(int64_t(1) << 32 | 5, proto::I32), 5);
  EXPECT_EQ(floatToInt(1e30, proto::I32), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(floatToInt(-1e30, proto::I64), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(floatToInt(-2.7, proto::I8), -2);
  EXPECT_EQ(floatToInt(NAN, proto::I8), 0);
  EXPECT_EQ(floatToInt(100, proto::I4), 7);
  EXPECT_EQ(floatToInt(0.5, proto::I1), 1);
}

TEST(HostTensor, Basics) {
  HostTensor t(proto::F32, {2, 3});
  EXPECT_EQ(t.typeString(), "f32[2,3]");
  EXPECT_EQ(t.numElements(), 6);
  EXPECT_EQ(t.byteSize(), 24);
  EXPECT_EQ(t.getDouble(5), 0.0);
  HostTensor shared = t;
  t.setDouble(1, 2.5);
  EXPECT_EQ(shared.getDouble(1), 2.5); // copies share storage
  HostTensor deep = t.clone();
  t.setDouble(1, 1.0);
  EXPECT_EQ(deep.getDouble(1), 2.5);
  HostTensor s(proto::I64, {});
  EXPECT_EQ(s.typeString(), "i64[]");
  EXPECT_EQ(s.numElements(), 1);

  HostTensor b = HostTensor::fromDoubles(proto::BF16, {3}, {1.0, 3.14159, -1e40});
  std::vector<double> back = b.toDoubles();
  EXPECT_EQ(back[0], 1.0);
  EXPECT_EQ(back[1], 3.140625);
  EXPECT_TRUE(std::isinf(back[2]));
  HostTensor i4 = HostTensor::fromDoubles(proto::I4, {3}, {3.9, -100, 100});
  EXPECT_EQ(i4.toDoubles(), (std::vector<double>{3, -8, 7}));
  // Packed: 3 and -8 (0x8) share byte 0; 7 and a zero spare nibble byte 1.
  ASSERT_EQ(i4.byteSize(), 2);
  EXPECT_EQ(i4.data<uint8_t>()[0], 0x83);
  EXPECT_EQ(i4.data<uint8_t>()[1], 0x07);

  auto lit = HostTensor::fromLiteral(b.toLiteral());
  ASSERT_TRUE(lit.ok());
  EXPECT_EQ(lit->typeString(), "bf16[3]");
  EXPECT_EQ(std::memcmp(lit->data(), b.data(), b.byteSize()), 0);
  proto::TensorLiteral bad = b.toLiteral();
  bad.set_data("x");
  EXPECT_FALSE(HostTensor::fromLiteral(bad).ok());

  // A splat literal holds one element and fills the shape with it.
  proto::TensorLiteral splat;
  splat.mutable_type()->add_shape(2);
  splat.mutable_type()->add_shape(3);
  splat.mutable_type()->set_dtype(proto::BF16);
  HostTensor one = HostTensor::fromDoubles(proto::BF16, {}, {-2.5});
  splat.set_data(static_cast<const char *>(one.data()), one.byteSize());
  splat.set_splat(true);
  auto filled = HostTensor::fromLiteral(splat);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(filled->typeString(), "bf16[2,3]");
  EXPECT_EQ(filled->toDoubles(), std::vector<double>(6, -2.5));
  splat.set_data("xyz");
  auto wrong = HostTensor::fromLiteral(splat);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(std::string(wrong.status().message()).find("one 2-byte element"), std::string::npos)
      << wrong.status();
}

TEST(HostTensor, I4IsPackedTwoToAByte) {
  std::vector<double> values = {-8, -1, 0, 1, 7, -5, 3};
  HostTensor t = HostTensor::fromDoubles(proto::I4, {7}, values);
  EXPECT_EQ(t.layout(), HostTensor::Layout::Packed);
  ASSERT_EQ(t.byteSize(), 4);
  const uint8_t *b = t.data<uint8_t>();
  EXPECT_EQ(b[0], 0xF8); // -1 high, -8 low
  EXPECT_EQ(b[1], 0x10);
  EXPECT_EQ(b[2], 0xB7); // -5 is 0xB
  EXPECT_EQ(b[3], 0x03);
  // Writing one element leaves its byte's other nibble alone.
  t.setInt(2, -2);
  EXPECT_EQ(b[1], 0x1E);
  t.setInt(2, 0);

  // The kernels' layout: one sign-extended element per byte, and back.
  HostTensor wide = t.withLayout(HostTensor::Layout::Unpacked);
  ASSERT_EQ(wide.byteSize(), 7);
  EXPECT_EQ(wide.data<int8_t>()[5], -5);
  EXPECT_EQ(wide.toDoubles(), values);
  wide.data<int8_t>()[6] = 19; // a kernel's byte past [-8, 7] wraps as i4 does
  HostTensor back = wide.withLayout(HostTensor::Layout::Packed);
  EXPECT_EQ(back.getInt(6), 3);
  EXPECT_EQ(std::memcmp(back.data(), t.data(), 4), 0);
  std::vector<int64_t> ints(7);
  readAs(wide, ints.data());
  EXPECT_EQ(ints[0], -8);
  EXPECT_EQ(wide.clone().layout(), HostTensor::Layout::Unpacked);

  // Literals carry the packed bytes; a splat's one element is a byte.
  auto lit = HostTensor::fromLiteral(wide.toLiteral());
  ASSERT_TRUE(lit.ok()) << lit.status();
  EXPECT_EQ(lit->toLiteral().data(), std::string("\xf8\x10\xb7\x03", 4));
  proto::TensorLiteral splat;
  *splat.mutable_type() = makeType(proto::I4, {3});
  splat.set_data(std::string("\xfe", 1));
  splat.set_splat(true);
  auto filled = HostTensor::fromLiteral(splat);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(filled->toDoubles(), (std::vector<double>{-2, -2, -2}));
  EXPECT_EQ(filled->data<uint8_t>()[1], 0x0E); // the spare nibble is 0
  proto::TensorLiteral shortLit = t.toLiteral();
  shortLit.set_data(std::string(7, '\0')); // one byte per element: too many
  EXPECT_FALSE(HostTensor::fromLiteral(shortLit).ok());

  // A block of elements from an odd offset.
  HostTensor mid = t.elements(3, {2, 2});
  EXPECT_EQ(mid.typeString(), "i4[2,2]");
  EXPECT_EQ(mid.toDoubles(), (std::vector<double>{1, 7, -5, 3}));
  HostTensor f = HostTensor::fromDoubles(proto::F32, {4}, {1, 2, 3, 4});
  EXPECT_EQ(f.elements(1, {2}).toDoubles(), (std::vector<double>{2, 3}));
}

} // namespace
} // namespace kiln
