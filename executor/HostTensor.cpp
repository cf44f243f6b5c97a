// Storage, element access and literal (de)serialisation of HostTensor.
#include "executor/HostTensor.h"

#include <cmath>
#include <cstring>
#include <new>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln {

int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::optional<int64_t> checkedNumElements(absl::Span<const int64_t> shape,
                                          int64_t elementBytes) {
  int64_t n = 1, bytes;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  if (__builtin_mul_overflow(n, std::max<int64_t>(elementBytes, 1), &bytes))
    return std::nullopt;
  return n;
}

std::string formatBytes(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024)
    return absl::StrFormat("%.1f GiB", bytes / (1024.0 * 1024 * 1024));
  if (bytes >= 1024.0 * 1024)
    return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024));
  return absl::StrFormat("%.0f bytes", bytes);
}

absl::Status checkTensorType(proto::DType dtype,
                             absl::Span<const int64_t> shape,
                             const std::string &what) {
  int64_t element = storageBytes(dtype);
  std::string type =
      absl::StrCat(dtypeName(dtype), "[", absl::StrJoin(shape, ","), "]");
  if (element == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has an invalid dtype (", type, ")"));
  for (int64_t d : shape)
    if (d < 0)
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a negative dimension: ", type));
  if (!checkedNumElements(shape, element))
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has type ", type,
                     ", whose size in bytes overflows a 64-bit integer"));
  return absl::OkStatus();
}

HostTensor::HostTensor(proto::DType dtype, std::vector<int64_t> shape,
                       Layout layout) {
  std::optional<int64_t> n = checkedNumElements(shape, storageBytes(dtype));
  if (!n || storageBytes(dtype) == 0)
    return; // invalid: no shape, no storage, byteSize() 0
  dtype_ = dtype;
  layout_ = layout;
  shape_ = std::move(shape);
  numElements_ = *n;
  // make_shared<T[]> value-initialises: the tensor starts zero-filled.
  storage_ = std::make_shared<uint8_t[]>(
      static_cast<size_t>(std::max<int64_t>(byteSize(), 1)));
}

absl::StatusOr<HostTensor> HostTensor::create(proto::DType dtype,
                                              std::vector<int64_t> shape,
                                              const std::string &what) {
  if (absl::Status s = checkTensorType(dtype, shape, what); !s.ok())
    return s;
  int64_t bytes =
      bufferBytes(dtype, *checkedNumElements(shape, storageBytes(dtype)));
  // Past physical memory an allocation either throws or, overcommitted, dies
  // later to the OOM killer while zero-filling: refuse it while it is an error.
  long pages = ::sysconf(_SC_PHYS_PAGES), pageSize = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && pageSize > 0 &&
      static_cast<double>(bytes) > double(pages) * double(pageSize))
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " of type ", dtypeName(dtype), "[", absl::StrJoin(shape, ","),
        "] needs ", formatBytes(static_cast<double>(bytes)),
        " but this machine has ", formatBytes(double(pages) * double(pageSize)),
        " of memory"));
  try {
    return HostTensor(dtype, std::move(shape));
  } catch (const std::bad_alloc &) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " needs ", formatBytes(static_cast<double>(bytes)),
                     " of host memory, which cannot be allocated"));
  }
}

namespace {

// Element i of packed i4 storage (bufferBytes' layout), sign-extended.
int64_t loadNibble(const void *p, int64_t i) {
  uint8_t byte = static_cast<const uint8_t *>(p)[i >> 1];
  int64_t v = (i & 1) ? byte >> 4 : byte & 0xF;
  return (v ^ 8) - 8;
}

void storeNibble(void *p, int64_t i, int64_t v) {
  uint8_t &byte = static_cast<uint8_t *>(p)[i >> 1];
  int shift = (i & 1) * 4;
  byte = static_cast<uint8_t>((byte & ~(0xF << shift)) | ((v & 0xF) << shift));
}

double loadDouble(proto::DType dtype, const void *p, int64_t i,
                  bool packed = false) {
  if (packed && dtype == proto::I4)
    return static_cast<double>(loadNibble(p, i));
  switch (dtype) {
  case proto::F32:
    return static_cast<const float *>(p)[i];
  case proto::F64:
    return static_cast<const double *>(p)[i];
  case proto::F16:
    return f16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case proto::BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(p)[i]);
  case proto::F8E4M3FN:
    return f8E4M3FNToFloat(static_cast<const uint8_t *>(p)[i]);
  case proto::F8E5M2:
    return f8E5M2ToFloat(static_cast<const uint8_t *>(p)[i]);
  case proto::I64:
    return static_cast<double>(static_cast<const int64_t *>(p)[i]);
  case proto::I32:
    return static_cast<const int32_t *>(p)[i];
  case proto::I8:
  case proto::I4:
    return static_cast<const int8_t *>(p)[i];
  case proto::I1:
    return static_cast<const uint8_t *>(p)[i] != 0;
  default:
    return 0;
  }
}

int64_t loadInt(proto::DType dtype, const void *p, int64_t i,
                bool packed = false) {
  if (packed && dtype == proto::I4)
    return loadNibble(p, i);
  switch (dtype) {
  case proto::I64:
    return static_cast<const int64_t *>(p)[i];
  case proto::I32:
    return static_cast<const int32_t *>(p)[i];
  case proto::I8:
  case proto::I4:
    return static_cast<const int8_t *>(p)[i];
  case proto::I1:
    return static_cast<const uint8_t *>(p)[i] != 0;
  default:
    return floatToInt(loadDouble(dtype, p, i), proto::I64);
  }
}

void storeInt(proto::DType dtype, void *p, int64_t i, int64_t v,
              bool packed = false) {
  if (packed && dtype == proto::I4) {
    storeNibble(p, i, v);
    return;
  }
  switch (dtype) {
  case proto::I64:
    static_cast<int64_t *>(p)[i] = v;
    return;
  case proto::I32:
    static_cast<int32_t *>(p)[i] = static_cast<int32_t>(wrapInt(v, dtype));
    return;
  case proto::I8:
  case proto::I4:
    static_cast<int8_t *>(p)[i] = static_cast<int8_t>(wrapInt(v, dtype));
    return;
  case proto::I1:
    static_cast<uint8_t *>(p)[i] = v != 0;
    return;
  case proto::F32:
    static_cast<float *>(p)[i] = static_cast<float>(v);
    return;
  case proto::F64:
    static_cast<double *>(p)[i] = static_cast<double>(v);
    return;
  default:
    break;
  }
  // Narrow floats: every i64 that survives to double is far beyond their
  // precision only when it is also beyond their range, so the double detour is
  // harmless.
  double d = static_cast<double>(v);
  switch (dtype) {
  case proto::F16:
    static_cast<uint16_t *>(p)[i] = doubleToF16(d);
    return;
  case proto::BF16:
    static_cast<uint16_t *>(p)[i] = doubleToBf16(d);
    return;
  case proto::F8E4M3FN:
    static_cast<uint8_t *>(p)[i] = doubleToF8E4M3FN(d);
    return;
  case proto::F8E5M2:
    static_cast<uint8_t *>(p)[i] = doubleToF8E5M2(d);
    return;
  default:
    return;
  }
}

void storeDouble(proto::DType dtype, void *p, int64_t i, double v,
                 bool packed = false) {
  switch (dtype) {
  case proto::F32:
    static_cast<float *>(p)[i] = static_cast<float>(v);
    return;
  case proto::F64:
    static_cast<double *>(p)[i] = v;
    return;
  case proto::F16:
    static_cast<uint16_t *>(p)[i] = doubleToF16(v);
    return;
  case proto::BF16:
    static_cast<uint16_t *>(p)[i] = doubleToBf16(v);
    return;
  case proto::F8E4M3FN:
    static_cast<uint8_t *>(p)[i] = doubleToF8E4M3FN(v);
    return;
  case proto::F8E5M2:
    static_cast<uint8_t *>(p)[i] = doubleToF8E5M2(v);
    return;
  default:
    storeInt(dtype, p, i, floatToInt(v, dtype), packed);
    return;
  }
}

} // namespace

double HostTensor::getDouble(int64_t flat) const {
  return loadDouble(dtype_, data(), flat, packedSubByte());
}
void HostTensor::setDouble(int64_t flat, double value) {
  storeDouble(dtype_, data(), flat, value, packedSubByte());
}
int64_t HostTensor::getInt(int64_t flat) const {
  return loadInt(dtype_, data(), flat, packedSubByte());
}
void HostTensor::setInt(int64_t flat, int64_t value) {
  storeInt(dtype_, data(), flat, value, packedSubByte());
}

HostTensor HostTensor::withLayout(Layout layout) const {
  if (layout == layout_ || !isSubByte() || !valid())
    return *this;
  HostTensor out(dtype_, shape_, layout);
  const void *in = data();
  void *o = out.data();
  bool fromPacked = layout_ == Layout::Packed;
  // Wrapping keeps a hand-written unpacked byte outside [-8, 7] to its nibble,
  // as a packed store would.
  for (int64_t i = 0; i < numElements_; ++i)
    storeInt(dtype_, o, i, loadInt(dtype_, in, i, fromPacked), !fromPacked);
  return out;
}

HostTensor HostTensor::ofInts(const std::vector<int64_t> &values) {
  HostTensor t(proto::I64, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i)
    t.setInt(static_cast<int64_t>(i), values[i]);
  return t;
}

HostTensor HostTensor::ofFloats(const std::vector<float> &values) {
  HostTensor t(proto::F32, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i)
    t.setDouble(static_cast<int64_t>(i), values[i]);
  return t;
}

HostTensor HostTensor::fromDoubles(proto::DType dtype,
                                   std::vector<int64_t> shape,
                                   const std::vector<double> &values) {
  HostTensor t(dtype, std::move(shape));
  int64_t n =
      std::min<int64_t>(t.numElements(), static_cast<int64_t>(values.size()));
  for (int64_t i = 0; i < n; ++i)
    t.setDouble(i, values[i]);
  return t;
}

std::vector<double> HostTensor::toDoubles() const {
  std::vector<double> out(numElements_);
  for (int64_t i = 0; i < numElements_; ++i)
    out[i] = getDouble(i);
  return out;
}

std::string typeString(const proto::TensorType &type) {
  return absl::StrCat(dtypeName(type.dtype()), "[",
                      absl::StrJoin(type.shape(), ","), "]");
}

proto::TensorType makeType(proto::DType dtype,
                           const std::vector<int64_t> &shape) {
  proto::TensorType t;
  t.set_dtype(dtype);
  for (int64_t d : shape)
    t.add_shape(d);
  return t;
}

std::string HostTensor::typeString() const {
  return absl::StrCat(dtypeName(dtype_), "[", absl::StrJoin(shape_, ","), "]");
}

proto::TensorType HostTensor::type() const { return makeType(dtype_, shape_); }

bool HostTensor::hasType(const proto::TensorType &type) const {
  if (type.dtype() != dtype_ || type.shape_size() != rank())
    return false;
  for (int64_t i = 0; i < rank(); ++i)
    if (type.shape(i) != shape_[i])
      return false;
  return true;
}

absl::StatusOr<HostTensor>
HostTensor::fromLiteral(const proto::TensorLiteral &literal) {
  const proto::TensorType &type = literal.type();
  absl::StatusOr<HostTensor> made =
      create(type.dtype(), {type.shape().begin(), type.shape().end()},
             "tensor literal");
  if (!made.ok())
    return made.status();
  HostTensor t = *std::move(made);
  if (literal.splat()) {
    int64_t element = storageBytes(type.dtype());
    if (static_cast<int64_t>(literal.data().size()) != element)
      return absl::InvalidArgumentError(
          absl::StrCat("splat tensor literal of type ", kiln::typeString(type),
                       " needs one ", element, "-byte element but holds ",
                       literal.data().size(), " bytes"));
    if (t.isSubByte()) {
      // The one element is a sign-extended byte; storage packs it.
      int64_t v = static_cast<int8_t>(literal.data()[0]);
      for (int64_t i = 0; i < t.numElements(); ++i)
        t.setInt(i, v);
      return t;
    }
    auto *out = static_cast<char *>(t.data());
    for (int64_t offset = 0; offset < t.byteSize(); offset += element)
      std::memcpy(out + offset, literal.data().data(), element);
    return t;
  }
  if (static_cast<int64_t>(literal.data().size()) != t.byteSize())
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor literal of type ", kiln::typeString(type), " needs ",
        t.byteSize(), " bytes but holds ", literal.data().size()));
  std::memcpy(t.data(), literal.data().data(), t.byteSize());
  // An odd count's spare nibble is zero, so equal tensors have equal bytes.
  if (t.isSubByte() && t.numElements() % 2 == 1)
    static_cast<uint8_t *>(t.data())[t.byteSize() - 1] &= 0x0F;
  return t;
}

proto::TensorLiteral HostTensor::toLiteral() const {
  HostTensor packed = withLayout(Layout::Packed);
  proto::TensorLiteral lit;
  *lit.mutable_type() = type();
  lit.set_data(static_cast<const char *>(packed.data()), packed.byteSize());
  return lit;
}

HostTensor HostTensor::clone() const {
  HostTensor t(dtype_, shape_, layout_);
  if (byteSize() > 0)
    std::memcpy(t.data(), data(), byteSize());
  return t;
}

HostTensor HostTensor::reshaped(std::vector<int64_t> shape) const {
  HostTensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

HostTensor HostTensor::elements(int64_t begin,
                                std::vector<int64_t> shape) const {
  HostTensor out(dtype_, std::move(shape), layout_);
  if (!packedSubByte()) {
    int64_t element = storageBytes(dtype_);
    if (out.byteSize() > 0)
      std::memcpy(out.data(),
                  static_cast<const uint8_t *>(data()) + begin * element,
                  out.byteSize());
    return out;
  }
  for (int64_t i = 0; i < out.numElements(); ++i)
    out.setInt(i, getInt(begin + i));
  return out;
}

template <typename T> static void readGeneric(const HostTensor &t, T *out) {
  int64_t n = t.numElements();
  const void *p = t.data();
  bool packed = t.layout() == HostTensor::Layout::Packed;
  switch (t.dtype()) {
  case proto::F32:
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(static_cast<const float *>(p)[i]);
    return;
  case proto::BF16:
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(bf16ToFloat(static_cast<const uint16_t *>(p)[i]));
    return;
  default:
    break;
  }
  if constexpr (std::is_same_v<T, int64_t>) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = loadInt(t.dtype(), p, i, packed);
  } else {
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<T>(loadDouble(t.dtype(), p, i, packed));
  }
}

void readAs(const HostTensor &t, float *out) { readGeneric(t, out); }
void readAs(const HostTensor &t, double *out) { readGeneric(t, out); }
void readAs(const HostTensor &t, int64_t *out) { readGeneric(t, out); }

void writeFrom(const float *in, HostTensor &t) {
  int64_t n = t.numElements();
  void *p = t.data();
  switch (t.dtype()) {
  case proto::F32:
    std::memcpy(p, in, n * sizeof(float));
    return;
  case proto::BF16:
    for (int64_t i = 0; i < n; ++i)
      static_cast<uint16_t *>(p)[i] = floatToBf16(in[i]);
    return;
  default:
    for (int64_t i = 0; i < n; ++i)
      storeDouble(t.dtype(), p, i, in[i],
                  t.layout() == HostTensor::Layout::Packed);
  }
}

void writeFrom(const double *in, HostTensor &t) {
  int64_t n = t.numElements();
  bool packed = t.layout() == HostTensor::Layout::Packed;
  for (int64_t i = 0; i < n; ++i)
    storeDouble(t.dtype(), t.data(), i, in[i], packed);
}

void writeFrom(const int64_t *in, HostTensor &t) {
  int64_t n = t.numElements();
  bool packed = t.layout() == HostTensor::Layout::Packed;
  for (int64_t i = 0; i < n; ++i)
    storeInt(t.dtype(), t.data(), i, in[i], packed);
}

} // namespace kiln
