// Element types of the executor: storage sizes, names, and the exact,
// single-rounding conversions between f32/f64 and the narrow float formats
// (docs/OPS.md "Conventions").
#ifndef KILN_EXECUTOR_DTYPE_H
#define KILN_EXECUTOR_DTYPE_H

#include <cstdint>
#include <optional>
#include <string_view>

#include "executor/executable.pb.h"

namespace kiln {

/// Bytes one element occupies where elements are addressed one by one: in the
/// unpacked form CPU kernels compute on, i4 and i1 take a whole byte. 0 for an
/// invalid type.
int64_t storageBytes(proto::DType type);
/// Bits one element occupies in a tensor's buffer: i4 is stored packed, two
/// elements to a byte (element 2j in the low nibble of byte j, element 2j+1 in
/// the high one, two's complement; an odd count leaves the last high nibble
/// zero). i1 keeps a byte. 0 for an invalid type.
int64_t storageBits(proto::DType type);
/// Bytes of a buffer of `numElements` elements of `type` (packed i4 rounds
/// up): every host tensor, device buffer, literal and file sizes by this.
int64_t bufferBytes(proto::DType type, int64_t numElements);
/// bufferBytes of a whole tensor type.
int64_t bufferBytes(const proto::TensorType &type);
/// "f32", "bf16", "f8E4M3FN", "i4", "i1", ...; "invalid" for anything else.
const char *dtypeName(proto::DType type);
/// Inverse of dtypeName; nullopt for an unknown name.
std::optional<proto::DType> parseDType(std::string_view name);
bool isFloat(proto::DType type);
/// Signed integer types (i64 i32 i8 i4); i1 is not an integer here, as in
/// OPS.md.
bool isInteger(proto::DType type);
/// Smallest and largest value of an integer type (i1: 0 and 1).
int64_t intMin(proto::DType type);
int64_t intMax(proto::DType type);
/// The largest finite value `kiln.quantize` maps a block's amax to (docs/OPS.md
/// "Quantization"): f8E4M3FN 448, f8E5M2 57344, i8 127, i4 7; nullopt for any
/// other type.
std::optional<float> quantizedMax(proto::DType type);

// Narrow float formats. The encoders round to nearest even exactly once; f8
// encoders saturate (overflow and infinities go to the largest finite of that
// sign), f16/bf16 overflow to infinity. NaN stays NaN.
uint16_t floatToBf16(float value);
float bf16ToFloat(uint16_t bits);
uint16_t doubleToBf16(double value);
uint16_t floatToF16(float value);
uint16_t doubleToF16(double value);
float f16ToFloat(uint16_t bits);
uint8_t doubleToF8E4M3FN(double value);
uint8_t doubleToF8E5M2(double value);
float f8E4M3FNToFloat(uint8_t bits);
float f8E5M2ToFloat(uint8_t bits);
inline uint8_t floatToF8E4M3FN(float value) { return doubleToF8E4M3FN(value); }
inline uint8_t floatToF8E5M2(float value) { return doubleToF8E5M2(value); }

/// Wraps an i64 to the width of an integer type (two's complement); i1 becomes
/// x != 0.
int64_t wrapInt(int64_t value, proto::DType type);
/// Float to integer as `cast` does it: toward zero, saturating, NaN -> 0; i1 is
/// x != 0.
int64_t floatToInt(double value, proto::DType type);

} // namespace kiln

#endif // KILN_EXECUTOR_DTYPE_H
