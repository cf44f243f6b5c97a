// A dense, row-major tensor in host memory, as the CPU executor and the host
// loops see it. Copies share storage (buffers are immutable once written);
// clone() deep-copies. Storage has the layout of bufferBytes
// (executor/DType.h): i4 packed two elements to a byte. The CPU kernels compute
// on i4 unpacked, one sign-extended element per byte; only CpuDevice makes such
// tensors.
#ifndef KILN_EXECUTOR_HOSTTENSOR_H
#define KILN_EXECUTOR_HOSTTENSOR_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "executor/DType.h"
#include "executor/executable.pb.h"

namespace kiln {

class HostTensor {
public:
  /// How sub-byte elements (i4) lie in storage; every other dtype is the same
  /// either way.
  enum class Layout {
    Packed,   // bufferBytes: two i4 to a byte. Everywhere outside a kernel.
    Unpacked, // one sign-extended i4 per byte: what the CPU kernels read.
  };

  HostTensor() = default;
  /// Zero-filled tensor of the given type. A shape that is negative or whose
  /// byte size overflows int64 gives an invalid tensor (valid() false, no
  /// storage), never a short buffer; create() says why instead.
  HostTensor(proto::DType dtype, std::vector<int64_t> shape,
             Layout layout = Layout::Packed);
  /// As the constructor, but an invalid dtype or shape, or memory that cannot
  /// be had, is an error naming `what`, the type and the bytes it needs.
  static absl::StatusOr<HostTensor> create(proto::DType dtype,
                                           std::vector<int64_t> shape,
                                           const std::string &what = "tensor");

  proto::DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t i) const { return shape_[i]; }
  int64_t numElements() const { return numElements_; }
  int64_t byteSize() const {
    return layout_ == Layout::Unpacked ? numElements_ * storageBytes(dtype_)
                                       : bufferBytes(dtype_, numElements_);
  }
  bool valid() const { return dtype_ != proto::DTYPE_INVALID; }
  Layout layout() const { return layout_; }
  /// True where the layouts differ: an i4 tensor.
  bool isSubByte() const { return storageBits(dtype_) % 8 != 0; }
  /// The same values in `layout`: this tensor (shared storage) when it is
  /// already so or the dtype is not sub-byte, else a converted copy.
  HostTensor withLayout(Layout layout) const;

  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }
  template <typename T> T *data() {
    return reinterpret_cast<T *>(storage_.get());
  }
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(storage_.get());
  }
  /// Identity of the storage block (shared by copies and reshaped views).
  const void *storageId() const { return storage_.get(); }

  /// Element value as a double (i64 beyond 2^53 loses precision; use getInt).
  double getDouble(int64_t flat) const;
  /// Stores with the dtype's rounding: floats RNE (f8 saturating), ints toward
  /// zero and saturating, NaN -> 0; i1 is value != 0.
  void setDouble(int64_t flat, double value);
  /// Exact integer access: floats truncate/saturate on set; i64 wraps to the
  /// width.
  int64_t getInt(int64_t flat) const;
  void setInt(int64_t flat, int64_t value);

  static HostTensor fromDoubles(proto::DType dtype, std::vector<int64_t> shape,
                                const std::vector<double> &values);
  /// A 1-D i64 tensor holding `values` (exactly).
  static HostTensor ofInts(const std::vector<int64_t> &values);
  /// A 1-D f32 tensor holding `values`.
  static HostTensor ofFloats(const std::vector<float> &values);
  std::vector<double> toDoubles() const;

  /// "f32[2,3]"; a scalar is "f32[]".
  std::string typeString() const;
  proto::TensorType type() const;
  bool hasType(const proto::TensorType &type) const;

  static absl::StatusOr<HostTensor>
  fromLiteral(const proto::TensorLiteral &literal);
  proto::TensorLiteral toLiteral() const;

  HostTensor clone() const;
  /// Same storage, another shape with the same element count.
  HostTensor reshaped(std::vector<int64_t> shape) const;
  /// A copy of the elements [begin, begin + numElements(shape)) in flat order,
  /// shaped `shape` (a row block of a stacked tensor); the range must lie
  /// inside this tensor.
  HostTensor elements(int64_t begin, std::vector<int64_t> shape) const;

private:
  bool packedSubByte() const {
    return layout_ == Layout::Packed && isSubByte();
  }

  proto::DType dtype_ = proto::DTYPE_INVALID;
  Layout layout_ = Layout::Packed;
  std::vector<int64_t> shape_;
  int64_t numElements_ = 0;
  std::shared_ptr<uint8_t[]> storage_;
};

std::string typeString(const proto::TensorType &type);
proto::TensorType makeType(proto::DType dtype,
                           const std::vector<int64_t> &shape);
int64_t numElements(const std::vector<int64_t> &shape);
/// The element count of `shape`, or nullopt where a dimension is negative or
/// the count's bytes at `elementBytes` each overflow int64: every shape that
/// enters from a file or a caller is checked with this before it sizes memory.
std::optional<int64_t> checkedNumElements(absl::Span<const int64_t> shape,
                                          int64_t elementBytes = 8);
/// OK, or an error naming `what` and the type, for a dtype without storage, a
/// negative dimension or a byte size beyond int64.
absl::Status checkTensorType(proto::DType dtype,
                             absl::Span<const int64_t> shape,
                             const std::string &what);
/// "12.0 GiB": a byte count for messages about memory.
std::string formatBytes(double bytes);

// Bulk conversions used by kernels: read every element into the compute type,
// or round a compute-type array once into a tensor of any dtype.
void readAs(const HostTensor &t, float *out);
void readAs(const HostTensor &t, double *out);
void readAs(const HostTensor &t, int64_t *out);
void writeFrom(const float *in, HostTensor &t);
void writeFrom(const double *in, HostTensor &t);
void writeFrom(const int64_t *in, HostTensor &t);

} // namespace kiln

#endif // KILN_EXECUTOR_HOSTTENSOR_H
