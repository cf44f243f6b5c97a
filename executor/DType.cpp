// Element type facts and the narrow-float codecs of the executor.
#include "executor/DType.h"

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace kiln {

namespace {
struct NamedType {
  proto::DType type;
  std::string_view name;
};
constexpr std::array<NamedType, 11> kNames = {{{proto::F32, "f32"},
                                               {proto::F64, "f64"},
                                               {proto::F16, "f16"},
                                               {proto::BF16, "bf16"},
                                               {proto::F8E4M3FN, "f8E4M3FN"},
                                               {proto::F8E5M2, "f8E5M2"},
                                               {proto::I64, "i64"},
                                               {proto::I32, "i32"},
                                               {proto::I8, "i8"},
                                               {proto::I4, "i4"},
                                               {proto::I1, "i1"}}};
} // namespace

const char *dtypeName(proto::DType type) {
  for (const NamedType &n : kNames)
    if (n.type == type)
      return n.name.data();
  return "invalid";
}

std::optional<proto::DType> parseDType(std::string_view name) {
  for (const NamedType &n : kNames)
    if (n.name == name)
      return n.type;
  return std::nullopt;
}

bool isFloat(proto::DType type) {
  return type == proto::F32 || type == proto::F64 || type == proto::F16 ||
         type == proto::BF16 || type == proto::F8E4M3FN || type == proto::F8E5M2;
}

bool isInteger(proto::DType type) {
  return type == proto::I64 || type == proto::I32 || type == proto::I8 ||
         type == proto::I4;
}

int64_t intMin(proto::DType type) {
  switch (type) {
  case proto::I64:
    return std::numeric_limits<int64_t>::min();
  case proto::I32:
    return std::numeric_limits<int32_t>::min();
  case proto::I8:
    return -128;
  case proto::I4:
    return -8;
  default:
    return 0;
  }
}

std::optional<float> quantizedMax(proto::DType type) {
  switch (type) {
  case proto::F8E4M3FN:
    return 448.0f;
  case proto::F8E5M2:
    return 57344.0f;
  case proto::I8:
  case proto::I4:
    return static_cast<float>(intMax(type));
  default:
    return std::nullopt;
  }
}

int64_t intMax(proto::DType type) {
  switch (type) {
  case proto::I64:
    return std::numeric_limits<int64_t>::max();
  case proto::I32:
    return std::numeric_limits<int32_t>::max();
  case proto::I8:
    return 127;
  case proto::I4:
    return 7;
  case proto::I1:
    return 1;
  default:
    return 0;
  }
}

int64_t wrapInt(int64_t value, proto::DType type) {
  switch (type) {
  case proto::I32:
    return static_cast<int32_t>(static_cast<uint32_t>(value));
  case proto::I8:
    return static_cast<int8_t>(static_cast<uint8_t>(value));
  case proto::I4:
    return static_cast<int64_t>((static_cast<uint64_t>(value) & 0xF) ^ 0x8) - 8;
  case proto::I1:
    return value != 0;
  default:
    return value;
  }
}

int64_t floatToInt(double value, proto::DType type) {
  if (type == proto::I1)
    return value != 0.0; // NaN != 0 is true, as x != 0 says.
  if (std::isnan(value))
    return 0;
  double t = std::trunc(value);
  // 2^63 is exactly representable; anything at or above it saturates.
  if (t >= static_cast<double>(intMax(type)) + 1.0 || t >= 9223372036854775807.0)
    return intMax(type);
  if (t <= static_cast<double>(intMin(type)))
    return intMin(type);
  return static_cast<int64_t>(t);
}

namespace {

// An IEEE-like binary format narrower than f32.
struct Format {
  int expBits;
  int mantBits;
  int bias;
  bool saturate;      // f8: overflow goes to maxFinite instead of infinity
  uint32_t maxFinite; // code of the largest finite magnitude
  uint32_t infCode;   // 0 when the format has no infinity
  uint32_t nanCode;
};

constexpr Format kBf16{8, 7, 127, false, 0x7F7F, 0x7F80, 0x7FC0};
constexpr Format kF16{5, 10, 15, false, 0x7BFF, 0x7C00, 0x7E00};
constexpr Format kE4M3{4, 3, 7, true, 0x7E, 0, 0x7F};
constexpr Format kE5M2{5, 2, 15, true, 0x7B, 0x7C, 0x7E};

// Rounds |value| once to the format: the quantum is fixed by the exponent (clamped to
// the smallest normal exponent, which makes subnormals fall out), and a carry out of the
// mantissa lands in the exponent field because codes are monotonic in magnitude.
uint32_t encode(double value, const Format &f) {
  uint32_t signBit = 1u << (f.expBits + f.mantBits);
  if (std::isnan(value))
    return f.nanCode | (std::signbit(value) ? signBit : 0);
  uint32_t sign = std::signbit(value) ? signBit : 0;
  double a = std::fabs(value);
  if (std::isinf(a))
    return sign | (f.saturate ? f.maxFinite : f.infCode);
  if (a == 0.0)
    return sign;
  int e2;
  std::frexp(a, &e2); // a = m * 2^e2, m in [0.5, 1)
  int exp = std::max(e2 - 1, 1 - f.bias);
  if (exp > 1000) // beyond any narrow format; avoid huge shifts
    return sign | (f.saturate ? f.maxFinite : f.infCode);
  double q = std::ldexp(a, f.mantBits - exp);
  double r = std::nearbyint(q); // default rounding mode: nearest, ties to even
  uint64_t code = (static_cast<uint64_t>(exp + f.bias - 1) << f.mantBits) +
                  static_cast<uint64_t>(r);
  if (code > f.maxFinite)
    return sign | (f.saturate ? f.maxFinite : f.infCode);
  return sign | static_cast<uint32_t>(code);
}

double decode(uint32_t code, const Format &f) {
  uint32_t signBit = 1u << (f.expBits + f.mantBits);
  uint32_t mag = code & (signBit - 1);
  double s = (code & signBit) ? -1.0 : 1.0;
  if (f.infCode != 0) {
    if (mag == f.infCode)
      return s * std::numeric_limits<double>::infinity();
    if (mag > f.infCode)
      return std::copysign(std::numeric_limits<double>::quiet_NaN(), s);
  } else if (mag > f.maxFinite) {
    return std::copysign(std::numeric_limits<double>::quiet_NaN(), s);
  }
  uint32_t e = mag >> f.mantBits;
  uint32_t m = mag & ((1u << f.mantBits) - 1);
  if (e == 0)
    return s * std::ldexp(static_cast<double>(m), 1 - f.bias - f.mantBits);
  return s * std::ldexp(static_cast<double>(m + (1u << f.mantBits)),
                        static_cast<int>(e) - f.bias - f.mantBits);
}

template <size_t N> std::vector<float> buildTable(const Format &f) {
  std::vector<float> t(N);
  for (size_t i = 0; i < N; ++i)
    t[i] = static_cast<float>(decode(static_cast<uint32_t>(i), f));
  return t;
}

} // namespace

uint16_t floatToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) {
    // Keep the payload where it survives truncation; otherwise make a quiet NaN.
    uint16_t hi = static_cast<uint16_t>(bits >> 16);
    if ((hi & 0x7F) == 0)
      hi |= 0x40;
    return hi;
  }
  bits += 0x7FFF + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

float bf16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t doubleToBf16(double value) {
  if (std::isnan(value))
    return floatToBf16(static_cast<float>(value));
  return static_cast<uint16_t>(encode(value, kBf16));
}

uint16_t floatToF16(float value) { return static_cast<uint16_t>(encode(value, kF16)); }
uint16_t doubleToF16(double value) { return static_cast<uint16_t>(encode(value, kF16)); }

float f16ToFloat(uint16_t bits) {
  static const std::vector<float> table = buildTable<65536>(kF16);
  return table[bits];
}

uint8_t doubleToF8E4M3FN(double value) { return static_cast<uint8_t>(encode(value, kE4M3)); }
uint8_t doubleToF8E5M2(double value) { return static_cast<uint8_t>(encode(value, kE5M2)); }

float f8E4M3FNToFloat(uint8_t bits) {
  static const std::vector<float> table = buildTable<256>(kE4M3);
  return table[bits];
}

float f8E5M2ToFloat(uint8_t bits) {
  static const std::vector<float> table = buildTable<256>(kE5M2);
  return table[bits];
}

} // namespace kiln
