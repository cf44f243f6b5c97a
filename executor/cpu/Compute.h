// Shared kernel plumbing: views of a tensor in its compute type (f32, f64 or i64; a copy
// only when the storage type differs), dtype dispatch, row-major strides and broadcasting.
#ifndef KILN_EXECUTOR_CPU_COMPUTE_H
#define KILN_EXECUTOR_CPU_COMPUTE_H

#include <array>
#include <optional>
#include <type_traits>
#include <vector>

#include "executor/HostTensor.h"

namespace kiln {

template <typename T> constexpr proto::DType nativeDType() {
  if constexpr (std::is_same_v<T, float>)
    return proto::F32;
  else if constexpr (std::is_same_v<T, double>)
    return proto::F64;
  else
    return proto::I64;
}

/// Read-only view of a tensor as T: the storage itself when it already is T.
template <typename T> class ReadView {
public:
  explicit ReadView(const HostTensor &t) {
    if (t.dtype() == nativeDType<T>()) {
      ptr_ = t.data<T>();
    } else {
      tmp_.resize(t.numElements());
      readAs(t, tmp_.data());
      ptr_ = tmp_.data();
    }
  }
  const T *data() const { return ptr_; }
  T operator[](int64_t i) const { return ptr_[i]; }

private:
  const T *ptr_ = nullptr;
  std::vector<T> tmp_;
};

/// Writable view of an output as T; commit() rounds once into the storage if needed.
template <typename T> class WriteView {
public:
  explicit WriteView(HostTensor &t) : t_(t) {
    if (t.dtype() == nativeDType<T>()) {
      ptr_ = t.data<T>();
    } else {
      tmp_.assign(t.numElements(), T(0));
      ptr_ = tmp_.data();
    }
  }
  T *data() { return ptr_; }
  T &operator[](int64_t i) { return ptr_[i]; }
  void commit() {
    if (!tmp_.empty())
      writeFrom(tmp_.data(), t_);
  }

private:
  HostTensor &t_;
  T *ptr_ = nullptr;
  std::vector<T> tmp_;
};

/// Calls f(T{}) with T the compute type of dtype: double for f64, float for the other
/// floats, int64_t for ints and i1.
template <typename F> decltype(auto) dispatchCompute(proto::DType dtype, F &&f) {
  if (dtype == proto::F64)
    return f(double{});
  if (isFloat(dtype))
    return f(float{});
  return f(int64_t{});
}

inline std::vector<int64_t> rowMajorStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/// numpy broadcast of two shapes; nullopt when they do not broadcast.
inline std::optional<std::vector<int64_t>> broadcastShapes(const std::vector<int64_t> &a,
                                                           const std::vector<int64_t> &b) {
  size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/// Strides of `in` addressed with an index of `out` (right-aligned; stretched dims 0).
inline std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &in,
                                             const std::vector<int64_t> &out) {
  std::vector<int64_t> s(out.size(), 0);
  std::vector<int64_t> inStrides = rowMajorStrides(in);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i)
    s[off + i] = in[i] == 1 ? 0 : inStrides[i];
  return s;
}

/// Visits output elements [begin, end) of `outShape` in order, calling f(outFlat, offs)
/// with each input's flat offset (inputs given by their broadcast strides).
template <size_t N, typename F>
void forEachBroadcast(const std::vector<int64_t> &outShape,
                      const std::array<std::vector<int64_t>, N> &strides, int64_t begin,
                      int64_t end, F &&f) {
  size_t rank = outShape.size();
  std::array<int64_t, N> offs{};
  std::vector<int64_t> idx(rank, 0);
  int64_t rem = begin;
  for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
    idx[d] = outShape[d] == 0 ? 0 : rem % outShape[d];
    rem = outShape[d] == 0 ? 0 : rem / outShape[d];
    for (size_t k = 0; k < N; ++k)
      offs[k] += idx[d] * strides[k][d];
  }
  for (int64_t o = begin; o < end; ++o) {
    f(o, offs);
    for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k)
        offs[k] += strides[k][d];
      if (++idx[d] < outShape[d])
        break;
      for (size_t k = 0; k < N; ++k)
        offs[k] -= idx[d] * strides[k][d];
      idx[d] = 0;
    }
  }
}

/// Splits a shape around an axis: [outer, axis dim, inner].
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline AxisSplit splitAt(const std::vector<int64_t> &shape, int64_t axis) {
  AxisSplit s;
  for (int64_t i = 0; i < axis; ++i)
    s.outer *= shape[i];
  s.n = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i)
    s.inner *= shape[i];
  return s;
}

} // namespace kiln

#endif // KILN_EXECUTOR_CPU_COMPUTE_H
