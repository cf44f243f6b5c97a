// Ordering ops: topk (largest first, ties to the lower index, NaN largest) and the
// stable sort / argsort along an axis.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

/// Strict "a before b" in ascending order with NaN above everything.
template <typename T> inline bool lessNanLast(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return a < b;
  else
    return !std::isnan(a) && (std::isnan(b) || a < b);
}

absl::Status topkKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(2));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t k, ctx.attrInt("k"));
  if (x.rank() < 1 || k < 0 || k > x.shape().back())
    return ctx.error(absl::StrCat("k = ", k, " does not fit ", x.typeString()));
  int64_t n = x.shape().back();
  std::vector<int64_t> shape = x.shape();
  shape.back() = k;
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, shape, x.dtype()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(1, shape, proto::I64));
  int64_t rows = n == 0 ? 0 : x.numElements() / n;
  int64_t *idxOut = ctx.output(1).data<int64_t>();
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> in(x);
    WriteView<T> vals(ctx.output(0));
    ctx.parallelFor(rows, 20.0 * n, [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(n);
      for (int64_t r = b; r < e; ++r) {
        const T *row = in.data() + r * n;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int64_t i, int64_t j) {
                            if (lessNanLast(row[j], row[i]))
                              return true;
                            if (lessNanLast(row[i], row[j]))
                              return false;
                            return i < j;
                          });
        for (int64_t j = 0; j < k; ++j) {
          vals[r * k + j] = row[order[j]];
          idxOut[r * k + j] = order[j];
        }
      }
    });
    vals.commit();
    return absl::OkStatus();
  });
}

template <bool WantIndices> absl::Status sortKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t axisAttr, ctx.attrInt("axis"));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.axis(axisAttr, x.rank()));
  KILN_ASSIGN_OR_RETURN(bool descending, ctx.attrBoolOr("descending", false));
  KILN_RETURN_IF_ERROR(
      ctx.expectOutput(0, x.shape(), WantIndices ? proto::I64 : x.dtype()));
  AxisSplit s = splitAt(x.shape(), axis);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> in(x);
    WriteView<T> vals(ctx.output(0)); // unused for argsort (its output is i64)
    int64_t *idxOut = WantIndices ? ctx.output(0).data<int64_t>() : nullptr;
    ctx.parallelFor(s.outer * s.inner, 30.0 * s.n + 10, [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(s.n);
      for (int64_t l = b; l < e; ++l) {
        int64_t base = (l / s.inner) * s.n * s.inner + l % s.inner;
        const T *line = in.data() + base;
        auto at = [&](int64_t j) { return line[j * s.inner]; };
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
          return descending ? lessNanLast(at(j), at(i)) : lessNanLast(at(i), at(j));
        });
        for (int64_t j = 0; j < s.n; ++j) {
          if constexpr (WantIndices)
            idxOut[base + j * s.inner] = order[j];
          else
            vals[base + j * s.inner] = at(order[j]);
        }
      }
    });
    if constexpr (!WantIndices)
      vals.commit();
    return absl::OkStatus();
  });
}

} // namespace

void registerSelectionKernels(KernelRegistry &r) {
  r["topk"] = topkKernel;
  r["sort"] = sortKernel<false>;
  r["argsort"] = sortKernel<true>;
}

} // namespace kiln
