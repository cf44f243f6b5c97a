// Elementwise ops: unary math, broadcasting binary arithmetic, comparisons, logical
// ops, select and cast (rounding rules of docs/OPS.md).
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

enum class Unary { Neg, Abs, Sign, Exp, Log, Sqrt, Rsqrt, Tanh, Sigmoid, Silu, Gelu, Erf, Sin, Cos };

template <Unary Op, typename T> inline T applyUnary(T x) {
  if constexpr (Op == Unary::Neg) {
    if constexpr (std::is_integral_v<T>)
      return static_cast<T>(0ULL - static_cast<uint64_t>(x));
    else
      return -x;
  } else if constexpr (Op == Unary::Abs) {
    if constexpr (std::is_integral_v<T>)
      return x < 0 ? static_cast<T>(0ULL - static_cast<uint64_t>(x)) : x;
    else
      return std::fabs(x);
  } else if constexpr (Op == Unary::Sign) {
    if constexpr (!std::is_integral_v<T>)
      if (std::isnan(x))
        return x;
    return static_cast<T>((x > 0) - (x < 0));
  } else if constexpr (Op == Unary::Exp) {
    return std::exp(x);
  } else if constexpr (Op == Unary::Log) {
    return std::log(x);
  } else if constexpr (Op == Unary::Sqrt) {
    return std::sqrt(x);
  } else if constexpr (Op == Unary::Rsqrt) {
    return T(1) / std::sqrt(x);
  } else if constexpr (Op == Unary::Tanh) {
    return std::tanh(x);
  } else if constexpr (Op == Unary::Sigmoid) {
    return T(1) / (T(1) + std::exp(-x));
  } else if constexpr (Op == Unary::Silu) {
    return x / (T(1) + std::exp(-x));
  } else if constexpr (Op == Unary::Gelu) {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  } else if constexpr (Op == Unary::Erf) {
    return std::erf(x);
  } else if constexpr (Op == Unary::Sin) {
    return std::sin(x);
  } else {
    return std::cos(x);
  }
}

template <Unary Op> absl::Status unaryKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  constexpr bool kIntOk = Op == Unary::Neg || Op == Unary::Abs || Op == Unary::Sign;
  if (!isFloat(x.dtype()) && !(kIntOk && isInteger(x.dtype())))
    return ctx.error(absl::StrCat("unsupported operand type ", x.typeString()));
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !kIntOk) {
      return absl::OkStatus();
    } else {
      ReadView<T> in(x);
      WriteView<T> out(ctx.output(0));
      ctx.parallelFor(x.numElements(), 20, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          out[i] = applyUnary<Op, T>(in[i]);
      });
      out.commit();
      return absl::OkStatus();
    }
  });
}

enum class Binary { Add, Sub, Mul, Div, Pow, Max, Min };

template <Binary Op, typename T> inline T applyBinary(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // Unsigned arithmetic: i64 overflow wraps instead of being undefined.
    uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
    if constexpr (Op == Binary::Add)
      return static_cast<T>(ua + ub);
    else if constexpr (Op == Binary::Sub)
      return static_cast<T>(ua - ub);
    else if constexpr (Op == Binary::Mul)
      return static_cast<T>(ua * ub);
    else if constexpr (Op == Binary::Div) {
      if (b == 0)
        return 0;
      if (b == -1)
        return static_cast<T>(0ULL - ua);
      return a / b;
    } else if constexpr (Op == Binary::Max)
      return std::max(a, b);
    else
      return std::min(a, b);
  } else {
    if constexpr (Op == Binary::Add)
      return a + b;
    else if constexpr (Op == Binary::Sub)
      return a - b;
    else if constexpr (Op == Binary::Mul)
      return a * b;
    else if constexpr (Op == Binary::Div)
      return a / b;
    else if constexpr (Op == Binary::Pow)
      return std::pow(a, b);
    else if constexpr (Op == Binary::Max)
      return (std::isnan(a) || a > b) ? a : b; // NaN propagates
    else
      return (std::isnan(a) || a < b) ? a : b;
  }
}

/// Runs out[i] = f(a[ia], b[ib]) over the broadcast of a and b.
template <typename TIn, typename TOut, typename F>
void broadcastBinary(const KernelContext &ctx, const TIn *a, const std::vector<int64_t> &sa,
                     const TIn *b, const std::vector<int64_t> &sb, TOut *out,
                     const std::vector<int64_t> &so, F f) {
  int64_t n = numElements(so);
  if (sa == so && sb == so) {
    ctx.parallelFor(n, 4, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        out[i] = f(a[i], b[i]);
    });
    return;
  }
  if (sa == so && numElements(sb) == 1) {
    TIn bv = b[0];
    ctx.parallelFor(n, 4, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        out[i] = f(a[i], bv);
    });
    return;
  }
  std::array<std::vector<int64_t>, 2> strides = {broadcastStrides(sa, so),
                                                 broadcastStrides(sb, so)};
  ctx.parallelFor(n, 10, [&](int64_t s, int64_t e) {
    forEachBroadcast<2>(so, strides, s, e, [&](int64_t o, const std::array<int64_t, 2> &off) {
      out[o] = f(a[off[0]], b[off[1]]);
    });
  });
}

absl::StatusOr<std::vector<int64_t>> binaryShape(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &a = ctx.input(0), &b = ctx.input(1);
  if (a.dtype() != b.dtype())
    return ctx.error(absl::StrCat("operands differ in element type: ", a.typeString(), " and ",
                                  b.typeString()));
  auto shape = broadcastShapes(a.shape(), b.shape());
  if (!shape)
    return ctx.error(absl::StrCat("operands do not broadcast: ", a.typeString(), " and ",
                                  b.typeString()));
  return *shape;
}

template <Binary Op> absl::Status binaryKernel(const KernelContext &ctx) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, binaryShape(ctx));
  const HostTensor &a = ctx.input(0), &b = ctx.input(1);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, a.dtype()));
  if (!isFloat(a.dtype()) && !(Op != Binary::Pow && isInteger(a.dtype())))
    return ctx.error(absl::StrCat("unsupported operand type ", a.typeString()));
  return dispatchCompute(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> va(a), vb(b);
    WriteView<T> out(ctx.output(0));
    broadcastBinary(ctx, va.data(), a.shape(), vb.data(), b.shape(), out.data(), shape,
                    [](T x, T y) { return applyBinary<Op, T>(x, y); });
    out.commit();
    return absl::OkStatus();
  });
}

enum class Compare { Eq, Ne, Lt, Le, Gt, Ge };

template <Compare Op> absl::Status compareKernel(const KernelContext &ctx) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, binaryShape(ctx));
  const HostTensor &a = ctx.input(0), &b = ctx.input(1);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, proto::I1));
  return dispatchCompute(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> va(a), vb(b);
    broadcastBinary(ctx, va.data(), a.shape(), vb.data(), b.shape(),
                    ctx.output(0).data<uint8_t>(), shape, [](T x, T y) -> uint8_t {
                      if constexpr (Op == Compare::Eq)
                        return x == y;
                      else if constexpr (Op == Compare::Ne)
                        return x != y;
                      else if constexpr (Op == Compare::Lt)
                        return x < y;
                      else if constexpr (Op == Compare::Le)
                        return x <= y;
                      else if constexpr (Op == Compare::Gt)
                        return x > y;
                      else
                        return x >= y;
                    });
    return absl::OkStatus();
  });
}

template <bool IsAnd> absl::Status logicalBinaryKernel(const KernelContext &ctx) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, binaryShape(ctx));
  const HostTensor &a = ctx.input(0), &b = ctx.input(1);
  if (a.dtype() != proto::I1)
    return ctx.error(absl::StrCat("operands must be i1, got ", a.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, proto::I1));
  broadcastBinary(ctx, a.data<uint8_t>(), a.shape(), b.data<uint8_t>(), b.shape(),
                  ctx.output(0).data<uint8_t>(), shape, [](uint8_t x, uint8_t y) -> uint8_t {
                    return IsAnd ? (x != 0 && y != 0) : (x != 0 || y != 0);
                  });
  return absl::OkStatus();
}

absl::Status logicalNotKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  if (x.dtype() != proto::I1)
    return ctx.error(absl::StrCat("operand must be i1, got ", x.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), proto::I1));
  const uint8_t *in = x.data<uint8_t>();
  uint8_t *out = ctx.output(0).data<uint8_t>();
  for (int64_t i = 0; i < x.numElements(); ++i)
    out[i] = in[i] == 0;
  return absl::OkStatus();
}

absl::Status selectKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &c = ctx.input(0), &a = ctx.input(1), &b = ctx.input(2);
  if (c.dtype() != proto::I1)
    return ctx.error(absl::StrCat("condition must be i1, got ", c.typeString()));
  if (a.dtype() != b.dtype())
    return ctx.error(absl::StrCat("branches differ in element type: ", a.typeString(), " and ",
                                  b.typeString()));
  auto ab = broadcastShapes(a.shape(), b.shape());
  auto shape = ab ? broadcastShapes(c.shape(), *ab) : std::nullopt;
  if (!shape)
    return ctx.error(absl::StrCat("operands do not broadcast: ", c.typeString(), ", ",
                                  a.typeString(), ", ", b.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, *shape, a.dtype()));
  // Select moves elements without arithmetic: copy raw storage, whatever the dtype.
  int64_t eb = storageBytes(a.dtype());
  const uint8_t *cp = c.data<uint8_t>();
  const uint8_t *ap = a.data<uint8_t>(), *bp = b.data<uint8_t>();
  uint8_t *op = ctx.output(0).data<uint8_t>();
  std::array<std::vector<int64_t>, 3> strides = {broadcastStrides(c.shape(), *shape),
                                                 broadcastStrides(a.shape(), *shape),
                                                 broadcastStrides(b.shape(), *shape)};
  ctx.parallelFor(numElements(*shape), 10, [&](int64_t s, int64_t e) {
    forEachBroadcast<3>(*shape, strides, s, e, [&](int64_t o, const std::array<int64_t, 3> &off) {
      const uint8_t *src = cp[off[0]] ? ap + off[1] * eb : bp + off[2] * eb;
      std::memcpy(op + o * eb, src, eb);
    });
  });
  return absl::OkStatus();
}

absl::Status castKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(proto::DType to, ctx.attrType("to"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), to));
  HostTensor &out = ctx.output(0);
  int64_t n = x.numElements();
  if (x.dtype() == to) {
    out = x;
    return absl::OkStatus();
  }
  if (isFloat(x.dtype()) && isFloat(to)) {
    // Widening to double is exact, so every float->float cast rounds exactly once.
    if (x.dtype() == proto::F64) {
      writeFrom(x.data<double>(), out);
    } else {
      ReadView<float> v(x);
      writeFrom(v.data(), out);
    }
  } else if (isFloat(x.dtype())) {
    ReadView<double> v(x);
    for (int64_t i = 0; i < n; ++i)
      out.setInt(i, floatToInt(v[i], to));
  } else {
    ReadView<int64_t> v(x);
    if (to == proto::F32) {
      float *o = out.data<float>();
      for (int64_t i = 0; i < n; ++i)
        o[i] = static_cast<float>(v[i]); // RNE straight from the integer
    } else {
      writeFrom(v.data(), out); // ints wrap, i1 is x != 0, floats round
    }
  }
  return absl::OkStatus();
}

} // namespace

void registerElementwiseKernels(KernelRegistry &r) {
  r["neg"] = unaryKernel<Unary::Neg>;
  r["abs"] = unaryKernel<Unary::Abs>;
  r["sign"] = unaryKernel<Unary::Sign>;
  r["exp"] = unaryKernel<Unary::Exp>;
  r["log"] = unaryKernel<Unary::Log>;
  r["sqrt"] = unaryKernel<Unary::Sqrt>;
  r["rsqrt"] = unaryKernel<Unary::Rsqrt>;
  r["tanh"] = unaryKernel<Unary::Tanh>;
  r["sigmoid"] = unaryKernel<Unary::Sigmoid>;
  r["silu"] = unaryKernel<Unary::Silu>;
  r["gelu"] = unaryKernel<Unary::Gelu>;
  r["erf"] = unaryKernel<Unary::Erf>;
  r["sin"] = unaryKernel<Unary::Sin>;
  r["cos"] = unaryKernel<Unary::Cos>;
  r["add"] = binaryKernel<Binary::Add>;
  r["sub"] = binaryKernel<Binary::Sub>;
  r["mul"] = binaryKernel<Binary::Mul>;
  r["div"] = binaryKernel<Binary::Div>;
  r["pow"] = binaryKernel<Binary::Pow>;
  r["maximum"] = binaryKernel<Binary::Max>;
  r["minimum"] = binaryKernel<Binary::Min>;
  r["equal"] = compareKernel<Compare::Eq>;
  r["not_equal"] = compareKernel<Compare::Ne>;
  r["less"] = compareKernel<Compare::Lt>;
  r["less_equal"] = compareKernel<Compare::Le>;
  r["greater"] = compareKernel<Compare::Gt>;
  r["greater_equal"] = compareKernel<Compare::Ge>;
  r["logical_and"] = logicalBinaryKernel<true>;
  r["logical_or"] = logicalBinaryKernel<false>;
  r["logical_not"] = logicalNotKernel;
  r["select"] = selectKernel;
  r["cast"] = castKernel;
}

} // namespace kiln
