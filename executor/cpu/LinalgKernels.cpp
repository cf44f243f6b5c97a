// matmul (batched, broadcasting, transposes) and grouped_matmul (MoE rows / weight-
// gradient contract) on Eigen, threaded through the executor's ThreadPoolDevice.
#define EIGEN_USE_THREADS
#include <Eigen/Dense>
#include <unsupported/Eigen/CXX11/Tensor>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Gemm.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

absl::Status matmulKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &a = ctx.input(0), &b = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(bool ta, ctx.attrBoolOr("transpose_a", false));
  KILN_ASSIGN_OR_RETURN(bool tb, ctx.attrBoolOr("transpose_b", false));
  if (a.rank() < 2 || b.rank() < 2 || a.dtype() != b.dtype() || !isFloat(a.dtype()))
    return ctx.error(absl::StrCat("needs two float operands of rank >= 2 and one type, got ",
                                  a.typeString(), " and ", b.typeString()));
  int64_t m = a.dim(a.rank() - (ta ? 1 : 2)), k = a.dim(a.rank() - (ta ? 2 : 1));
  int64_t kb = b.dim(b.rank() - (tb ? 1 : 2)), n = b.dim(b.rank() - (tb ? 2 : 1));
  std::vector<int64_t> aBatch(a.shape().begin(), a.shape().end() - 2);
  std::vector<int64_t> bBatch(b.shape().begin(), b.shape().end() - 2);
  auto batch = broadcastShapes(aBatch, bBatch);
  if (k != kb || !batch)
    return ctx.error(absl::StrCat("operands do not multiply: ", a.typeString(), " and ",
                                  b.typeString(), " (transpose_a=", ta, ", transpose_b=", tb, ")"));
  std::vector<int64_t> outShape = *batch;
  outShape.push_back(m);
  outShape.push_back(n);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, outShape, a.dtype()));
  int64_t numBatch = numElements(*batch);
  // Batch offsets in matrices, then scaled to elements.
  std::array<std::vector<int64_t>, 2> strides = {broadcastStrides(aBatch, *batch),
                                                 broadcastStrides(bBatch, *batch)};
  std::vector<std::array<int64_t, 2>> offs(numBatch);
  forEachBroadcast<2>(*batch, strides, 0, numBatch,
                      [&](int64_t i, const std::array<int64_t, 2> &o) { offs[i] = o; });
  return dispatchCompute(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> av(a), bv(b);
      WriteView<T> out(ctx.output(0));
      const Eigen::ThreadPoolDevice *dev = &ctx.device();
      double flops = static_cast<double>(m) * n * k;
      auto one = [&](int64_t i, const Eigen::ThreadPoolDevice *d) {
        gemm<T>(d, av.data() + offs[i][0] * m * k, ta, bv.data() + offs[i][1] * k * n, tb,
                out.data() + i * m * n, m, n, k);
      };
      if (numBatch > 1 && flops < 4 * kThreadedGemmFlops) {
        // Many small products: one thread per batch slice.
        ctx.parallelFor(numBatch, 2 * flops, [&](int64_t s, int64_t e) {
          for (int64_t i = s; i < e; ++i)
            one(i, nullptr);
        });
      } else {
        for (int64_t i = 0; i < numBatch; ++i)
          one(i, dev);
      }
      out.commit();
      return absl::OkStatus();
    }
  });
}

absl::Status groupedMatmulKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &w = ctx.input(1), &offsets = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(std::string mode, ctx.attrString("mode"));
  KILN_ASSIGN_OR_RETURN(bool tw, ctx.attrBoolOr("transpose_w", false));
  if (x.rank() != 2 || !isFloat(x.dtype()) || w.dtype() != x.dtype() || offsets.rank() != 1 ||
      !isInteger(offsets.dtype()))
    return ctx.error(absl::StrCat("bad operands ", x.typeString(), ", ", w.typeString(), ", ",
                                  offsets.typeString()));
  int64_t t = x.dim(0), k = x.dim(1), e = offsets.dim(0);
  // Group row ranges, clamped so that bad offsets can neither overlap nor overrun.
  std::vector<std::pair<int64_t, int64_t>> rows(e);
  int64_t prev = 0;
  for (int64_t g = 0; g < e; ++g) {
    int64_t end = std::clamp<int64_t>(offsets.getInt(g), prev, t);
    rows[g] = {prev, end};
    prev = end;
  }
  int64_t n;
  bool contract;
  if (mode == "rows") {
    if (w.rank() != 3 || w.dim(0) != e || w.dim(tw ? 2 : 1) != k)
      return ctx.error(absl::StrCat("weights ", w.typeString(), " do not fit x ", x.typeString(),
                                    " with ", e, " groups (transpose_w=", tw, ")"));
    n = w.dim(tw ? 1 : 2);
    contract = false;
    KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {t, n}, x.dtype()));
  } else if (mode == "contract") {
    if (w.rank() != 2 || w.dim(0) != t)
      return ctx.error(absl::StrCat("dy ", w.typeString(), " does not fit x ", x.typeString()));
    n = w.dim(1);
    contract = true;
    KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {e, k, n}, x.dtype()));
  } else {
    return ctx.error(absl::StrCat("unknown mode '", mode, "' (rows or contract)"));
  }
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> xv(x), wv(w);
      WriteView<T> out(ctx.output(0));
      std::fill(out.data(), out.data() + ctx.output(0).numElements(), T(0));
      const Eigen::ThreadPoolDevice *dev = &ctx.device();
      for (int64_t g = 0; g < e; ++g) {
        auto [r0, r1] = rows[g];
        int64_t len = r1 - r0;
        if (contract) {
          // dw[g] = x[r0:r1]^T dy[r0:r1]; an empty group leaves zeros.
          if (len > 0)
            gemm<T>(dev, xv.data() + r0 * k, true, wv.data() + r0 * n, false,
                    out.data() + g * k * n, k, n, len);
        } else if (len > 0 && ctx.batchInvariant()) {
          gemmRowBlocks<T>(dev, xv.data() + r0 * k, wv.data() + g * k * n, tw,
                       out.data() + r0 * n, len, n, k);
        } else if (len > 0) {
          gemm<T>(dev, xv.data() + r0 * k, false, wv.data() + g * k * n, tw,
                  out.data() + r0 * n, len, n, k);
        }
      }
      out.commit();
      return absl::OkStatus();
    }
  });
}

} // namespace

void registerLinalgKernels(KernelRegistry &r) {
  r["matmul"] = matmulKernel;
  r["grouped_matmul"] = groupedMatmulKernel;
}

} // namespace kiln
