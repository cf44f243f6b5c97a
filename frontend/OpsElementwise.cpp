//===- OpsElementwise.cpp - unary, binary, comparison, select and cast ----===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

#define KILN_UNARY(FN, OP)                                                     \
  Tensor FN(const Tensor &x, SourceLoc loc) {                                  \
    return buildOne<ir::OP>({&x}, {}, loc);                                    \
  }
KILN_UNARY(neg, NegOp)
KILN_UNARY(abs, AbsOp)
KILN_UNARY(sign, SignOp)
KILN_UNARY(exp, ExpOp)
KILN_UNARY(log, LogOp)
KILN_UNARY(sqrt, SqrtOp)
KILN_UNARY(rsqrt, RsqrtOp)
KILN_UNARY(tanh, TanhOp)
KILN_UNARY(sigmoid, SigmoidOp)
KILN_UNARY(silu, SiluOp)
KILN_UNARY(gelu, GeluOp)
KILN_UNARY(erf, ErfOp)
KILN_UNARY(sin, SinOp)
KILN_UNARY(cos, CosOp)
KILN_UNARY(logicalNot, LogicalNotOp)
#undef KILN_UNARY

#define KILN_BINARY(FN, OP)                                                    \
  Tensor FN(const Tensor &a, const Tensor &b, SourceLoc loc) {                 \
    return buildOne<ir::OP>({&a, &b}, {}, loc);                                \
  }
KILN_BINARY(add, AddOp)
KILN_BINARY(sub, SubOp)
KILN_BINARY(mul, MulOp)
KILN_BINARY(div, DivOp)
KILN_BINARY(pow, PowOp)
KILN_BINARY(maximum, MaximumOp)
KILN_BINARY(minimum, MinimumOp)
KILN_BINARY(equal, EqualOp)
KILN_BINARY(notEqual, NotEqualOp)
KILN_BINARY(less, LessOp)
KILN_BINARY(lessEqual, LessEqualOp)
KILN_BINARY(greater, GreaterOp)
KILN_BINARY(greaterEqual, GreaterEqualOp)
KILN_BINARY(logicalAnd, LogicalAndOp)
KILN_BINARY(logicalOr, LogicalOrOp)
#undef KILN_BINARY

Tensor pow(const Tensor &a, double exponent, SourceLoc loc) {
  return pow(a, scalarLike(a, exponent, loc), loc);
}
Tensor maximum(const Tensor &a, double b, SourceLoc loc) {
  return maximum(a, scalarLike(a, b, loc), loc);
}
Tensor minimum(const Tensor &a, double b, SourceLoc loc) {
  return minimum(a, scalarLike(a, b, loc), loc);
}
Tensor equal(const Tensor &a, double b, SourceLoc loc) {
  return equal(a, scalarLike(a, b, loc), loc);
}
Tensor notEqual(const Tensor &a, double b, SourceLoc loc) {
  return notEqual(a, scalarLike(a, b, loc), loc);
}

Tensor select(const Tensor &cond, const Tensor &a, const Tensor &b,
              SourceLoc loc) {
  return buildOne<ir::SelectOp>({&cond, &a, &b}, {}, loc);
}

Tensor cast(const Tensor &x, DType to, SourceLoc loc) {
  return buildOne<ir::CastOp>({&x}, {typeAttr("to", to)}, loc);
}

} // namespace kiln
