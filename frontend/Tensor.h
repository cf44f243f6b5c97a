//===- Tensor.h - the value handle of the kiln authoring API ----*- C++ -*-===//
//
// A Tensor names one value of a graph under construction; arithmetic on it adds
// kiln ops. No MLIR type appears here so model code compiles fast (DESIGN.md).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_TENSOR_H
#define KILN_FRONTEND_TENSOR_H

#include <cstdint>
#include <source_location>
#include <vector>

namespace kiln {

/// The caller's position, recorded on every op and in every error message.
using SourceLoc = std::source_location;

/// Element types of kiln tensors (docs/OPS.md, "Types").
enum class DType {
  f64,
  f32,
  f16,
  bf16,
  f8e4m3fn,
  f8e5m2,
  i64,
  i32,
  i8,
  i4,
  i1
};

/// The MLIR spelling of a dtype ("f32", "bf16", "f8E4M3FN", "i1", ...).
const char *dtypeName(DType dtype);
bool isFloat(DType dtype);
bool isInteger(DType dtype); // signed integers, not i1

using Shape = std::vector<int64_t>;

class Function;
namespace detail {
class GraphImpl;
} // namespace detail

/// A cheap, copyable handle: the graph it belongs to and an opaque value id. A
/// Tensor returned by a failed op is invalid; passing it on is a silent no-op
/// because the graph already holds the (sticky) error. A Tensor is meaningful
/// only while its Graph lives.
class Tensor {
public:
  Tensor() = default;

  bool valid() const { return graph != nullptr && id >= 0; }
  /// Empty for an invalid tensor.
  Shape shape() const;
  /// f32 for an invalid tensor.
  DType dtype() const;
  int64_t rank() const;
  /// Size of dimension `i` (negative counts from the end). An out-of-range `i`
  /// records a sticky error and returns 0.
  int64_t dim(int64_t i, SourceLoc loc = SourceLoc::current()) const;
  /// The entry function this value lives in; null for an invalid tensor.
  Function *function() const;

  // Fluent forms of the free functions of Ops.h.
  Tensor reshape(const Shape &shape,
                 SourceLoc loc = SourceLoc::current()) const;
  Tensor transpose(const std::vector<int64_t> &perm,
                   SourceLoc loc = SourceLoc::current()) const;
  Tensor cast(DType to, SourceLoc loc = SourceLoc::current()) const;
  Tensor sum(const std::vector<int64_t> &axes, bool keepdims = false,
             SourceLoc loc = SourceLoc::current()) const;
  Tensor mean(const std::vector<int64_t> &axes, bool keepdims = false,
              SourceLoc loc = SourceLoc::current()) const;

private:
  friend class detail::GraphImpl;
  Tensor(detail::GraphImpl *graph, int64_t id) : graph(graph), id(id) {}

  detail::GraphImpl *graph = nullptr;
  int64_t id = -1;
};

/// A Tensor operand of an operator, remembering where the expression was
/// written: operators cannot take a defaulted SourceLoc, but a converting
/// constructor can.
struct TensorArg {
  TensorArg(const Tensor &tensor, SourceLoc loc = SourceLoc::current())
      : tensor(tensor), loc(loc) {}
  Tensor tensor;
  SourceLoc loc;
};

/// A scalar operand of an operator; it becomes a constant of the other
/// operand's dtype.
struct ScalarArg {
  ScalarArg(double value, SourceLoc loc = SourceLoc::current())
      : value(value), loc(loc) {}
  double value;
  SourceLoc loc;
};

Tensor operator+(const Tensor &a, TensorArg b);
Tensor operator-(const Tensor &a, TensorArg b);
Tensor operator*(const Tensor &a, TensorArg b);
Tensor operator/(const Tensor &a, TensorArg b);
Tensor operator+(const Tensor &a, ScalarArg b);
Tensor operator-(const Tensor &a, ScalarArg b);
Tensor operator*(const Tensor &a, ScalarArg b);
Tensor operator/(const Tensor &a, ScalarArg b);
Tensor operator+(ScalarArg a, const Tensor &b);
Tensor operator-(ScalarArg a, const Tensor &b);
Tensor operator*(ScalarArg a, const Tensor &b);
Tensor operator/(ScalarArg a, const Tensor &b);
Tensor operator-(TensorArg x);

Tensor &operator+=(Tensor &a, TensorArg b);
Tensor &operator-=(Tensor &a, TensorArg b);
Tensor &operator*=(Tensor &a, TensorArg b);
Tensor &operator/=(Tensor &a, TensorArg b);

// Comparisons give i1 tensors. Equality is the function `equal` (Ops.h) so that
// Tensor keeps its ordinary meaning as a container element.
Tensor operator<(const Tensor &a, TensorArg b);
Tensor operator<=(const Tensor &a, TensorArg b);
Tensor operator>(const Tensor &a, TensorArg b);
Tensor operator>=(const Tensor &a, TensorArg b);
Tensor operator<(const Tensor &a, ScalarArg b);
Tensor operator<=(const Tensor &a, ScalarArg b);
Tensor operator>(const Tensor &a, ScalarArg b);
Tensor operator>=(const Tensor &a, ScalarArg b);

// Logical ops on i1 tensors (both sides are always evaluated).
Tensor operator&&(const Tensor &a, TensorArg b);
Tensor operator||(const Tensor &a, TensorArg b);
Tensor operator!(TensorArg x);

} // namespace kiln

#endif // KILN_FRONTEND_TENSOR_H
