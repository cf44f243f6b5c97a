// Reductions and normalisations: sum, mean, max, min, logsumexp, argmax, softmax,
// log_softmax, cumsum, rms_norm. Accumulation is in the compute type, in index order.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

/// How a set of reduced axes splits the operand: kept dims index outputs, reduced dims
/// are walked in row-major (index) order for each output.
struct ReducePlan {
  std::vector<int64_t> outShape; // with or without the kept 1s
  std::vector<int64_t> keptShape, keptStrides, redShape, redStrides;
  int64_t numOut = 1, numRed = 1;
};

absl::StatusOr<ReducePlan> planReduce(const KernelContext &ctx, const HostTensor &x,
                                      std::vector<int64_t> axes, bool keepdims) {
  std::vector<bool> reduced(x.rank(), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int64_t n, ctx.axis(a, x.rank()));
    if (reduced[n])
      return ctx.error(absl::StrCat("axis ", a, " appears twice in [", absl::StrJoin(axes, ","), "]"));
    reduced[n] = true;
  }
  ReducePlan p;
  std::vector<int64_t> strides = rowMajorStrides(x.shape());
  for (int64_t d = 0; d < x.rank(); ++d) {
    if (reduced[d]) {
      p.redShape.push_back(x.dim(d));
      p.redStrides.push_back(strides[d]);
      p.numRed *= x.dim(d);
      if (keepdims)
        p.outShape.push_back(1);
    } else {
      p.keptShape.push_back(x.dim(d));
      p.keptStrides.push_back(strides[d]);
      p.numOut *= x.dim(d);
      p.outShape.push_back(x.dim(d));
    }
  }
  return p;
}

/// Calls f(outIndex, visit) for every output; visit(g) feeds g each reduced value.
template <typename T, typename F>
void runReduce(const KernelContext &ctx, const ReducePlan &p, const T *in, F f) {
  std::array<std::vector<int64_t>, 1> kept = {p.keptStrides}, red = {p.redStrides};
  ctx.parallelFor(p.numOut, 2.0 * p.numRed + 20, [&](int64_t b, int64_t e) {
    forEachBroadcast<1>(p.keptShape, kept, b, e, [&](int64_t o, const std::array<int64_t, 1> &base) {
      const T *src = in + base[0];
      auto visit = [&](auto &&g) {
        forEachBroadcast<1>(p.redShape, red, 0, p.numRed,
                            [&](int64_t, const std::array<int64_t, 1> &off) { g(src[off[0]]); });
      };
      f(o, visit);
    });
  });
}

enum class Red { Sum, Mean, Max, Min, LogSumExp };

template <Red Op> absl::Status reduceKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.attrInts("axes"));
  KILN_ASSIGN_OR_RETURN(bool keepdims, ctx.attrBoolOr("keepdims", false));
  KILN_ASSIGN_OR_RETURN(ReducePlan p, planReduce(ctx, x, axes, keepdims));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, p.outShape, x.dtype()));
  if (Op == Red::LogSumExp && !isFloat(x.dtype()))
    return ctx.error(absl::StrCat("operand must be float, got ", x.typeString()));
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> in(x);
    WriteView<T> out(ctx.output(0));
    runReduce<T>(ctx, p, in.data(), [&](int64_t o, auto visit) {
      T acc{};
      if constexpr (Op == Red::Sum || Op == Red::Mean) {
        visit([&](T v) {
          if constexpr (std::is_integral_v<T>)
            acc = static_cast<T>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(v));
          else
            acc += v;
        });
        if constexpr (Op == Red::Mean)
          acc = p.numRed == 0 ? T(0) : static_cast<T>(acc / static_cast<T>(p.numRed));
      } else if constexpr (Op == Red::Max || Op == Red::Min) {
        bool first = true;
        visit([&](T v) {
          if (first) {
            acc = v;
            first = false;
            return;
          }
          if constexpr (!std::is_integral_v<T>)
            if (std::isnan(acc))
              return;
          if constexpr (Op == Red::Max) {
            if (v > acc || v != v)
              acc = v;
          } else {
            if (v < acc || v != v)
              acc = v;
          }
        });
        if (first) // empty reduction: the identity of max/min
          acc = Op == Red::Max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
      } else {
        T m = -std::numeric_limits<T>::infinity();
        visit([&](T v) { m = (v > m || v != v) ? v : m; });
        if (std::isinf(m) && m < 0) {
          acc = m; // all -inf (or empty) -> -inf
        } else {
          T s = 0;
          visit([&](T v) { s += std::exp(v - m); });
          acc = m + std::log(s);
        }
      }
      out[o] = acc;
    });
    out.commit();
    return absl::OkStatus();
  });
}

absl::Status argmaxKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(bool keepdims, ctx.attrBoolOr("keepdims", false));
  KILN_ASSIGN_OR_RETURN(ReducePlan p, planReduce(ctx, x, {axis}, keepdims));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, p.outShape, proto::I64));
  int64_t *out = ctx.output(0).data<int64_t>();
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> in(x);
    runReduce<T>(ctx, p, in.data(), [&](int64_t o, auto visit) {
      int64_t j = 0, best = 0;
      T bestVal{};
      bool bestNan = false;
      visit([&](T v) {
        bool isNan = v != v;
        if (j == 0 || (!bestNan && (isNan || v > bestVal))) {
          best = j;
          bestVal = v;
          bestNan = isNan;
        }
        ++j;
      });
      out[o] = best;
    });
    return absl::OkStatus();
  });
}

/// Calls f(line, stride) for every 1-D line along `axis` (parallel over lines).
template <typename T, typename F>
void forEachLine(const KernelContext &ctx, const AxisSplit &s, T *base, F f) {
  ctx.parallelFor(s.outer * s.inner, 10.0 * s.n + 10, [&](int64_t b, int64_t e) {
    for (int64_t l = b; l < e; ++l) {
      int64_t o = l / s.inner, i = l % s.inner;
      f(l, base + o * s.n * s.inner + i, o * s.n * s.inner + i);
    }
  });
}

template <bool Log> absl::Status softmaxKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  if (!isFloat(x.dtype()))
    return ctx.error(absl::StrCat("operand must be float, got ", x.typeString()));
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  AxisSplit s = splitAt(x.shape(), axis);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> in(x);
      WriteView<T> out(ctx.output(0));
      T *o = out.data();
      forEachLine(ctx, s, in.data(), [&](int64_t, const T *line, int64_t off) {
        int64_t st = s.inner;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < s.n; ++j)
          m = std::max(m, line[j * st]);
        if (std::isinf(m) && m < 0)
          m = 0; // all -inf: keep the shift finite
        T sum = 0;
        if constexpr (Log) {
          for (int64_t j = 0; j < s.n; ++j)
            sum += std::exp(line[j * st] - m);
          T lse = m + std::log(sum);
          for (int64_t j = 0; j < s.n; ++j)
            o[off + j * st] = line[j * st] - lse;
        } else {
          // Keep each exp in the output so it is computed once.
          for (int64_t j = 0; j < s.n; ++j) {
            T ex = std::exp(line[j * st] - m);
            o[off + j * st] = ex;
            sum += ex;
          }
          T inv = T(1) / sum;
          for (int64_t j = 0; j < s.n; ++j)
            o[off + j * st] *= inv;
        }
      });
      out.commit();
      return absl::OkStatus();
    }
  });
}

absl::Status cumsumKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  KILN_ASSIGN_OR_RETURN(bool exclusive, ctx.attrBoolOr("exclusive", false));
  KILN_ASSIGN_OR_RETURN(bool reverse, ctx.attrBoolOr("reverse", false));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  AxisSplit s = splitAt(x.shape(), axis);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> in(x);
    WriteView<T> out(ctx.output(0));
    T *o = out.data();
    forEachLine(ctx, s, in.data(), [&](int64_t, const T *line, int64_t off) {
      T acc = 0;
      for (int64_t t = 0; t < s.n; ++t) {
        int64_t j = reverse ? s.n - 1 - t : t;
        T v = line[j * s.inner];
        if (exclusive)
          o[off + j * s.inner] = acc;
        if constexpr (std::is_integral_v<T>)
          acc = static_cast<T>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(v));
        else
          acc += v;
        if (!exclusive)
          o[off + j * s.inner] = acc;
      }
    });
    out.commit();
    return absl::OkStatus();
  });
}

absl::Status rmsNormKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &w = ctx.input(1);
  if (!isFloat(x.dtype()) || x.rank() < 1 || w.rank() != 1 || w.dim(0) != x.shape().back())
    return ctx.error(absl::StrCat("needs x [..., D] float and weight [D], got ", x.typeString(),
                                  " and ", w.typeString()));
  KILN_ASSIGN_OR_RETURN(double eps, ctx.attrFloat("eps"));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  int64_t d = w.dim(0);
  int64_t rows = d == 0 ? 0 : x.numElements() / d;
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> in(x), wv(w);
      WriteView<T> out(ctx.output(0));
      ctx.parallelFor(rows, 6.0 * d, [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const T *xr = in.data() + r * d;
          T ss = 0;
          for (int64_t j = 0; j < d; ++j)
            ss += xr[j] * xr[j];
          T scale = T(1) / std::sqrt(ss / static_cast<T>(d) + static_cast<T>(eps));
          T *orow = out.data() + r * d;
          for (int64_t j = 0; j < d; ++j)
            orow[j] = wv[j] * (xr[j] * scale);
        }
      });
      out.commit();
      return absl::OkStatus();
    }
  });
}

} // namespace

void registerReductionKernels(KernelRegistry &r) {
  r["sum"] = reduceKernel<Red::Sum>;
  r["mean"] = reduceKernel<Red::Mean>;
  r["max"] = reduceKernel<Red::Max>;
  r["min"] = reduceKernel<Red::Min>;
  r["logsumexp"] = reduceKernel<Red::LogSumExp>;
  r["argmax"] = argmaxKernel;
  r["softmax"] = softmaxKernel<false>;
  r["log_softmax"] = softmaxKernel<true>;
  r["cumsum"] = cumsumKernel;
  r["rms_norm"] = rmsNormKernel;
}

} // namespace kiln
