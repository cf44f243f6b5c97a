//===- Tensor.cpp - Tensor accessors, fluent methods and operators --------===//
//
// Operators take their source location from TensorArg / ScalarArg, whose
// converting constructors run at the caller's expression.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"

#include "absl/strings/str_cat.h"

namespace kiln {

using detail::scalarLike;

Shape Tensor::shape() const {
  return valid() ? graph->value(id).shape : Shape();
}

DType Tensor::dtype() const {
  return valid() ? graph->value(id).dtype : DType::f32;
}

int64_t Tensor::rank() const {
  return valid() ? static_cast<int64_t>(graph->value(id).shape.size()) : 0;
}

int64_t Tensor::dim(int64_t i, SourceLoc loc) const {
  if (!valid())
    return 0;
  const Shape &s = graph->value(id).shape;
  int64_t r = s.size();
  if (i < -r || i >= r) {
    graph->fail(loc, "Tensor::dim",
                absl::StrCat("dimension ", i, " is out of range for ",
                             detail::typeString(s, dtype())));
    return 0;
  }
  return s[i < 0 ? i + r : i];
}

Function *Tensor::function() const {
  return valid() ? graph->functionHandle(graph->value(id).function) : nullptr;
}

Tensor Tensor::reshape(const Shape &shape, SourceLoc loc) const {
  return kiln::reshape(*this, shape, loc);
}
Tensor Tensor::transpose(const std::vector<int64_t> &perm,
                         SourceLoc loc) const {
  return kiln::transpose(*this, perm, loc);
}
Tensor Tensor::cast(DType to, SourceLoc loc) const {
  return kiln::cast(*this, to, loc);
}
Tensor Tensor::sum(const std::vector<int64_t> &axes, bool keepdims,
                   SourceLoc loc) const {
  return kiln::sum(*this, axes, keepdims, loc);
}
Tensor Tensor::mean(const std::vector<int64_t> &axes, bool keepdims,
                    SourceLoc loc) const {
  return kiln::mean(*this, axes, keepdims, loc);
}

#define KILN_BINARY_OPERATOR(OP, FN)                                           \
  Tensor operator OP(const Tensor &a, TensorArg b) {                           \
    return FN(a, b.tensor, b.loc);                                             \
  }                                                                            \
  Tensor operator OP(const Tensor &a, ScalarArg b) {                           \
    return FN(a, scalarLike(a, b.value, b.loc), b.loc);                        \
  }
KILN_BINARY_OPERATOR(+, add)
KILN_BINARY_OPERATOR(-, sub)
KILN_BINARY_OPERATOR(*, mul)
KILN_BINARY_OPERATOR(/, div)
KILN_BINARY_OPERATOR(<, less)
KILN_BINARY_OPERATOR(<=, lessEqual)
KILN_BINARY_OPERATOR(>, greater)
KILN_BINARY_OPERATOR(>=, greaterEqual)
#undef KILN_BINARY_OPERATOR

#define KILN_SCALAR_LEFT_OPERATOR(OP, FN)                                      \
  Tensor operator OP(ScalarArg a, const Tensor &b) {                           \
    return FN(scalarLike(b, a.value, a.loc), b, a.loc);                        \
  }
KILN_SCALAR_LEFT_OPERATOR(+, add)
KILN_SCALAR_LEFT_OPERATOR(-, sub)
KILN_SCALAR_LEFT_OPERATOR(*, mul)
KILN_SCALAR_LEFT_OPERATOR(/, div)
#undef KILN_SCALAR_LEFT_OPERATOR

Tensor operator-(TensorArg x) { return neg(x.tensor, x.loc); }
Tensor operator!(TensorArg x) { return logicalNot(x.tensor, x.loc); }
Tensor operator&&(const Tensor &a, TensorArg b) {
  return logicalAnd(a, b.tensor, b.loc);
}
Tensor operator||(const Tensor &a, TensorArg b) {
  return logicalOr(a, b.tensor, b.loc);
}

Tensor &operator+=(Tensor &a, TensorArg b) {
  return a = add(a, b.tensor, b.loc);
}
Tensor &operator-=(Tensor &a, TensorArg b) {
  return a = sub(a, b.tensor, b.loc);
}
Tensor &operator*=(Tensor &a, TensorArg b) {
  return a = mul(a, b.tensor, b.loc);
}
Tensor &operator/=(Tensor &a, TensorArg b) {
  return a = div(a, b.tensor, b.loc);
}

} // namespace kiln
