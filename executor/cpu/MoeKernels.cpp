//===- MoeKernels.cpp - the fused mixture-of-experts ops on the CPU -------===//
//
// moe_route, moe_plan, moe_gate_up, moe_down and moe_combine (ir/KilnOps.td
// pins their semantics). Each expert's rows are one GEMM over tokens gathered
// into a scratch block (never a [T*k, H] copy), and every token's k rows are
// summed in ascending position order, so results do not depend on threading.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Gemm.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

/// Rounds compute-type values through `dtype` in place (a no-op for the
/// compute type itself): the single rounding the ops' semantics name.
template <typename T>
void roundThrough(proto::DType dtype, T *values, int64_t n) {
  if (dtype == nativeDType<T>() || n == 0)
    return;
  HostTensor tmp(dtype, {n});
  writeFrom(values, tmp);
  readAs(tmp, values);
}

/// A plan's row ranges per expert, clamped so that bad offsets can neither
/// overlap nor overrun the `pairs` rows.
std::vector<std::pair<int64_t, int64_t>> expertRows(const HostTensor &offsets,
                                                    int64_t pairs) {
  std::vector<std::pair<int64_t, int64_t>> rows(offsets.dim(0));
  int64_t prev = 0;
  for (int64_t e = 0; e < offsets.dim(0); ++e) {
    int64_t end = std::clamp<int64_t>(offsets.getInt(e), prev, pairs);
    rows[e] = {prev, end};
    prev = end;
  }
  return rows;
}

/// The token of each sorted row, or -1 where order names no pair.
std::vector<int64_t> tokensOf(const HostTensor &order, int64_t tokens,
                              int64_t topK) {
  std::vector<int64_t> tok(order.numElements());
  for (int64_t p = 0; p < order.numElements(); ++p) {
    int64_t pair = order.getInt(p);
    tok[p] = pair >= 0 && pair < tokens * topK ? pair / topK : -1;
  }
  return tok;
}

absl::Status checkPlan(const KernelContext &ctx, const HostTensor &order,
                       const HostTensor *offsets, const HostTensor *slot) {
  bool ok = isInteger(order.dtype()) && order.rank() == 1;
  if (offsets)
    ok = ok && isInteger(offsets->dtype()) && offsets->rank() == 1 &&
         offsets->dim(0) >= 1;
  if (slot)
    ok = ok && isInteger(slot->dtype()) && slot->rank() == 2 &&
         slot->numElements() == order.numElements();
  if (!ok)
    return ctx.error(absl::StrCat("bad plan operands: order ",
                                  order.typeString(), ", offsets ",
                                  offsets ? offsets->typeString() : "-",
                                  ", slot ", slot ? slot->typeString() : "-"));
  return absl::OkStatus();
}

/// y[t] = sum of rows[slot[t, j]] in ascending slot order, f32 (f64)
/// accumulation; positions outside the rows are skipped.
template <typename T>
void combineRows(const KernelContext &ctx, const T *rows,
                 const HostTensor &slot, int64_t pairs, int64_t width, T *out) {
  int64_t tokens = slot.dim(0), topK = slot.dim(1);
  ctx.parallelFor(tokens, 2.0 * topK * width, [&](int64_t b, int64_t e) {
    std::vector<int64_t> pos(topK);
    for (int64_t t = b; t < e; ++t) {
      for (int64_t j = 0; j < topK; ++j)
        pos[j] = slot.getInt(t * topK + j);
      std::sort(pos.begin(), pos.end());
      T *dst = out + t * width;
      for (int64_t p : pos) {
        if (p < 0 || p >= pairs)
          continue;
        const T *src = rows + p * width;
        for (int64_t i = 0; i < width; ++i)
          dst[i] += src[i];
      }
    }
  });
}

/// topk's order: larger first, NaN largest, ties to the lower index.
template <typename T> bool rankedBefore(T a, int64_t i, T b, int64_t j) {
  bool aNan = std::isnan(a), bNan = std::isnan(b);
  if (aNan != bNan)
    return aNan;
  if (!aNan && a != b)
    return a > b;
  return i < j;
}

/// The indices of the `k` first of `values` in topk's order, first first.
template <typename T>
void topkIndices(const std::vector<T> &values, int64_t k,
                 std::vector<int64_t> &indices) {
  indices.resize(values.size());
  std::iota(indices.begin(), indices.end(), int64_t{0});
  std::partial_sort(indices.begin(), indices.begin() + k, indices.end(),
                    [&](int64_t i, int64_t j) {
                      return rankedBefore(values[i], i, values[j], j);
                    });
  indices.resize(k);
}

absl::Status moeRouteKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(2));
  const HostTensor &scores = ctx.input(0), &bias = ctx.input(1);
  KILN_ASSIGN_OR_RETURN(int64_t groups, ctx.attrInt("num_groups"));
  KILN_ASSIGN_OR_RETURN(int64_t keptGroups, ctx.attrInt("topk_group"));
  KILN_ASSIGN_OR_RETURN(int64_t topK, ctx.attrInt("top_k"));
  KILN_ASSIGN_OR_RETURN(bool normalize, ctx.attrBool("normalize"));
  KILN_ASSIGN_OR_RETURN(double epsilon, ctx.attrFloat("epsilon"));
  KILN_ASSIGN_OR_RETURN(double scaling, ctx.attrFloat("scaling"));
  int64_t e = scores.rank() == 2 ? scores.dim(1) : 0;
  if ((scores.dtype() != proto::F32 && scores.dtype() != proto::F64) ||
      scores.rank() != 2 || bias.dtype() != scores.dtype() ||
      bias.shape() != std::vector{e} || groups < 1 || e % groups != 0 ||
      e / groups < 2 || keptGroups < 1 || keptGroups > groups || topK < 1 ||
      topK > e)
    return ctx.error(absl::StrCat(
        "needs f32 or f64 scores [T, E] and bias [E] of one type, E split "
        "into ",
        "num_groups groups of >= 2, 1 <= topk_group <= num_groups and 1 <= "
        "top_k <= E; got scores ",
        scores.typeString(), ", bias ", bias.typeString(), ", num_groups ",
        groups, ", topk_group ", keptGroups, ", top_k ", topK));
  int64_t tokens = scores.dim(0), n = e / groups;
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {tokens, topK}, proto::I64));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(1, {tokens, topK}, scores.dtype()));
  int64_t *experts = ctx.output(0).data<int64_t>();
  return dispatchCompute(scores.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> s(scores), b(bias);
      WriteView<T> w(ctx.output(1));
      // Each step rounds to T as the unfused ops do: choice, the group sums,
      // the weight sum in index order, the division, the scaling.
      T eps = static_cast<T>(epsilon), scale = static_cast<T>(scaling);
      ctx.parallelFor(
          tokens, 4.0 * e * (keptGroups + topK), [&](int64_t lo, int64_t hi) {
            std::vector<T> choice(e), group(n), groupScore(groups);
            std::vector<int64_t> order;
            std::vector<bool> kept(groups);
            for (int64_t t = lo; t < hi; ++t) {
              const T *row = s.data() + t * e;
              for (int64_t j = 0; j < e; ++j)
                choice[j] = row[j] + b[j];
              for (int64_t g = 0; g < groups; ++g) {
                std::copy_n(choice.begin() + g * n, n, group.begin());
                topkIndices(group, 2, order);
                T sum = 0;
                sum += group[order[0]];
                sum += group[order[1]];
                groupScore[g] = sum;
              }
              topkIndices(groupScore, keptGroups, order);
              std::fill(kept.begin(), kept.end(), false);
              for (int64_t g : order)
                kept[g] = true;
              for (int64_t j = 0; j < e; ++j)
                if (!kept[j / n])
                  choice[j] = -std::numeric_limits<T>::infinity();
              topkIndices(choice, topK, order);
              T total = 0;
              for (int64_t j = 0; j < topK; ++j) {
                experts[t * topK + j] = order[j];
                total += row[order[j]];
              }
              T denominator = total + eps;
              for (int64_t j = 0; j < topK; ++j) {
                T v = row[order[j]];
                if (normalize)
                  v = v / denominator;
                w[t * topK + j] = v * scale;
              }
            }
          });
      w.commit();
      return absl::OkStatus();
    }
  });
}

absl::Status moePlanKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(1));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(3));
  const HostTensor &experts = ctx.input(0);
  KILN_ASSIGN_OR_RETURN(int64_t numExperts, ctx.attrInt("num_experts"));
  if (!isInteger(experts.dtype()) || experts.rank() != 2 || numExperts < 1)
    return ctx.error(absl::StrCat("needs integer experts [T, k] and "
                                  "num_experts >= 1, got ",
                                  experts.typeString(), " and ", numExperts));
  int64_t pairs = experts.numElements();
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {pairs}, proto::I64));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(1, experts.shape(), proto::I64));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(2, {numExperts}, proto::I64));
  std::vector<int64_t> key(pairs);
  for (int64_t p = 0; p < pairs; ++p)
    key[p] = experts.getInt(p);
  int64_t *order = ctx.output(0).data<int64_t>();
  int64_t *slot = ctx.output(1).data<int64_t>();
  int64_t *offsets = ctx.output(2).data<int64_t>();
  std::iota(order, order + pairs, int64_t{0});
  std::stable_sort(order, order + pairs,
                   [&](int64_t a, int64_t b) { return key[a] < key[b]; });
  for (int64_t p = 0; p < pairs; ++p)
    slot[order[p]] = p;
  for (int64_t v : key)
    if (v >= 0 && v < numExperts)
      ++offsets[v];
  for (int64_t e = 1; e < numExperts; ++e)
    offsets[e] += offsets[e - 1];
  return absl::OkStatus();
}

absl::Status moeGateUpKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(5));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(3));
  const HostTensor &x = ctx.input(0), &wGate = ctx.input(1),
                   &wUp = ctx.input(2), &order = ctx.input(3),
                   &offsets = ctx.input(4);
  KILN_RETURN_IF_ERROR(checkPlan(ctx, order, &offsets, nullptr));
  int64_t pairs = order.numElements(), numExperts = offsets.dim(0);
  if (x.rank() != 2 || !isFloat(x.dtype()) || x.dim(0) < 1 ||
      pairs % x.dim(0) != 0)
    return ctx.error(absl::StrCat("tokens ", x.typeString(),
                                  " do not fit order ", order.typeString()));
  int64_t tokens = x.dim(0), hidden = x.dim(1), topK = pairs / tokens;
  if (wGate.rank() != 3 || wGate.shape() != wUp.shape() ||
      wGate.dtype() != x.dtype() || wUp.dtype() != x.dtype() ||
      wGate.dim(0) != numExperts || wGate.dim(2) != hidden)
    return ctx.error(absl::StrCat("w_gate ", wGate.typeString(), " and w_up ",
                                  wUp.typeString(), " must be [", numExperts,
                                  ", I, ", hidden, "] of the tokens' type"));
  int64_t inter = wGate.dim(1);
  for (int i = 0; i < 3; ++i)
    KILN_RETURN_IF_ERROR(ctx.expectOutput(i, {pairs, inter}, x.dtype()));
  auto rows = expertRows(offsets, pairs);
  std::vector<int64_t> tok = tokensOf(order, tokens, topK);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> xv(x), gv(wGate), uv(wUp);
      WriteView<T> act(ctx.output(0)), gate(ctx.output(1)), up(ctx.output(2));
      const Eigen::ThreadPoolDevice *dev = &ctx.device();
      std::vector<T> block;
      for (int64_t e = 0; e < numExperts; ++e) {
        auto [r0, r1] = rows[e];
        int64_t len = r1 - r0;
        if (len == 0)
          continue;
        // The expert's tokens, gathered once for both projections.
        block.assign(len * hidden, T(0));
        for (int64_t r = 0; r < len; ++r)
          if (tok[r0 + r] >= 0)
            std::copy_n(xv.data() + tok[r0 + r] * hidden, hidden,
                        block.data() + r * hidden);
        const T *wg = gv.data() + e * inter * hidden;
        const T *wu = uv.data() + e * inter * hidden;
        T *g = gate.data() + r0 * inter, *u = up.data() + r0 * inter;
        if (ctx.batchInvariant()) {
          gemmRowBlocks<T>(dev, block.data(), wg, true, g, len, inter, hidden);
          gemmRowBlocks<T>(dev, block.data(), wu, true, u, len, inter, hidden);
        } else {
          gemm<T>(dev, block.data(), false, wg, true, g, len, inter, hidden);
          gemm<T>(dev, block.data(), false, wu, true, u, len, inter, hidden);
        }
        roundThrough(x.dtype(), g, len * inter);
        roundThrough(x.dtype(), u, len * inter);
        T *a = act.data() + r0 * inter;
        for (int64_t i = 0; i < len * inter; ++i)
          a[i] = g[i] / (T(1) + std::exp(-g[i])) * u[i];
      }
      act.commit();
      gate.commit();
      up.commit();
      return absl::OkStatus();
    }
  });
}

absl::Status moeDownKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(6));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &act = ctx.input(0), &wDown = ctx.input(1),
                   &weights = ctx.input(2), &order = ctx.input(3),
                   &slot = ctx.input(4), &offsets = ctx.input(5);
  KILN_RETURN_IF_ERROR(checkPlan(ctx, order, &offsets, &slot));
  int64_t pairs = order.numElements(), numExperts = offsets.dim(0);
  int64_t tokens = slot.dim(0), topK = slot.dim(1);
  if (act.rank() != 2 || !isFloat(act.dtype()) || act.dim(0) != pairs ||
      wDown.rank() != 3 || wDown.dtype() != act.dtype() ||
      wDown.dim(0) != numExperts || wDown.dim(2) != act.dim(1) ||
      !isFloat(weights.dtype()) || weights.shape() != slot.shape())
    return ctx.error(absl::StrCat("bad operands: act ", act.typeString(),
                                  ", w_down ", wDown.typeString(), ", weights ",
                                  weights.typeString()));
  int64_t inter = act.dim(1), hidden = wDown.dim(1);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {tokens, hidden}, act.dtype()));
  auto rows = expertRows(offsets, pairs);
  return dispatchCompute(act.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> av(act), wv(wDown), rw(weights);
      const Eigen::ThreadPoolDevice *dev = &ctx.device();
      std::vector<T> routed(pairs * hidden, T(0));
      for (int64_t e = 0; e < numExperts; ++e) {
        auto [r0, r1] = rows[e];
        int64_t len = r1 - r0;
        if (len == 0)
          continue;
        const T *w = wv.data() + e * hidden * inter;
        T *r = routed.data() + r0 * hidden;
        if (ctx.batchInvariant())
          gemmRowBlocks<T>(dev, av.data() + r0 * inter, w, true, r, len, hidden,
                           inter);
        else
          gemm<T>(dev, av.data() + r0 * inter, false, w, true, r, len, hidden,
                  inter);
        for (int64_t p = r0; p < r1; ++p) {
          int64_t pair = order.getInt(p);
          T scale = pair >= 0 && pair < pairs ? rw[pair] : T(0);
          for (int64_t i = 0; i < hidden; ++i)
            routed[p * hidden + i] *= scale;
        }
      }
      roundThrough(act.dtype(), routed.data(), pairs * hidden);
      WriteView<T> out(ctx.output(0));
      combineRows<T>(ctx, routed.data(), slot, pairs, hidden, out.data());
      out.commit();
      return absl::OkStatus();
    }
  });
}

absl::Status moeCombineKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &rows = ctx.input(0), &order = ctx.input(1),
                   &slot = ctx.input(2);
  KILN_RETURN_IF_ERROR(checkPlan(ctx, order, nullptr, &slot));
  if (rows.rank() != 2 || !isFloat(rows.dtype()) ||
      rows.dim(0) != order.numElements())
    return ctx.error(absl::StrCat("rows ", rows.typeString(),
                                  " do not fit order ", order.typeString()));
  int64_t width = rows.dim(1);
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {slot.dim(0), width}, rows.dtype()));
  return dispatchCompute(rows.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::OkStatus();
    } else {
      ReadView<T> rv(rows);
      WriteView<T> out(ctx.output(0));
      combineRows<T>(ctx, rv.data(), slot, rows.dim(0), width, out.data());
      out.commit();
      return absl::OkStatus();
    }
  });
}

} // namespace

void registerMoeKernels(KernelRegistry &r) {
  r["moe_route"] = moeRouteKernel;
  r["moe_plan"] = moePlanKernel;
  r["moe_gate_up"] = moeGateUpKernel;
  r["moe_down"] = moeDownKernel;
  r["moe_combine"] = moeCombineKernel;
}

} // namespace kiln
