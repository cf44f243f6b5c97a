// Composite model ops run as single kernels on the host: rotary, attention (GQA,
// causal with per-batch query offset, key padding), cross_entropy and token_logprobs.
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "executor/cpu/Compute.h"
#include "executor/cpu/Kernel.h"

namespace kiln {
namespace {

absl::Status rotaryKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &c = ctx.input(1), &s = ctx.input(2);
  KILN_ASSIGN_OR_RETURN(bool interleaved, ctx.attrBoolOr("interleaved", false));
  if (!isFloat(x.dtype()) || x.rank() < 2 || x.shape().back() % 2 != 0)
    return ctx.error(absl::StrCat("x must be float [..., S, D] with even D, got ",
                                  x.typeString()));
  int64_t d = x.shape().back(), half = d / 2;
  std::vector<int64_t> halfShape = x.shape();
  halfShape.back() = half;
  auto bc = broadcastShapes(c.shape(), halfShape);
  auto bs = broadcastShapes(s.shape(), halfShape);
  if (!bc || *bc != halfShape || !bs || *bs != halfShape)
    return ctx.error(absl::StrCat("cos ", c.typeString(), " and sin ", s.typeString(),
                                  " must broadcast to ", dtypeName(x.dtype()), "[..., S, ",
                                  half, "] of x ", x.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, x.shape(), x.dtype()));
  std::array<std::vector<int64_t>, 2> strides = {broadcastStrides(c.shape(), halfShape),
                                                 broadcastStrides(s.shape(), halfShape)};
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> xv(x), cv(c), sv(s);
    WriteView<T> out(ctx.output(0));
    ctx.parallelFor(numElements(halfShape), 10, [&](int64_t b, int64_t e) {
      forEachBroadcast<2>(halfShape, strides, b, e,
                          [&](int64_t h, const std::array<int64_t, 2> &off) {
                            int64_t row = h / half, i = h % half;
                            int64_t ia = row * d + (interleaved ? 2 * i : i);
                            int64_t ib = row * d + (interleaved ? 2 * i + 1 : i + half);
                            T xa = xv[ia], xb = xv[ib], cs = cv[off[0]], sn = sv[off[1]];
                            out[ia] = xa * cs - xb * sn;
                            out[ib] = xb * cs + xa * sn;
                          });
    });
    out.commit();
    return absl::OkStatus();
  });
}

absl::Status attentionKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(3, 5));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &q = ctx.input(0), &k = ctx.input(1), &v = ctx.input(2);
  // Optional operands: operandSegmentSizes says which are present; without it, a 4th
  // operand is valid_len.
  const HostTensor *validLen = nullptr, *qOffset = nullptr;
  if (ctx.hasAttr("operandSegmentSizes")) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> seg, ctx.attrInts("operandSegmentSizes"));
    if (seg.size() != 5 || seg[0] != 1 || seg[1] != 1 || seg[2] != 1 || seg[3] > 1 ||
        seg[4] > 1 || seg[3] < 0 || seg[4] < 0 || 3 + seg[3] + seg[4] != ctx.numInputs())
      return ctx.error("operandSegmentSizes does not match the operands");
    int next = 3;
    if (seg[3])
      validLen = &ctx.input(next++);
    if (seg[4])
      qOffset = &ctx.input(next++);
  } else {
    if (ctx.numInputs() > 3)
      validLen = &ctx.input(3);
    if (ctx.numInputs() > 4)
      qOffset = &ctx.input(4);
  }
  bool ok = q.rank() == 4 && k.rank() == 4 && v.rank() == 4 && isFloat(q.dtype()) &&
            k.dtype() == q.dtype() && v.dtype() == q.dtype();
  int64_t bsz = ok ? q.dim(0) : 0, hq = ok ? q.dim(1) : 0, sq = ok ? q.dim(2) : 0;
  int64_t dk = ok ? q.dim(3) : 0, hkv = ok ? k.dim(1) : 0, sk = ok ? k.dim(2) : 0;
  int64_t dv = ok ? v.dim(3) : 0;
  ok = ok && k.dim(0) == bsz && v.dim(0) == bsz && k.dim(3) == dk && v.dim(1) == hkv &&
       v.dim(2) == sk && hkv > 0 && hq % hkv == 0;
  for (const HostTensor *t : {validLen, qOffset})
    ok = ok && (!t || (isInteger(t->dtype()) && t->rank() == 1 && t->dim(0) == bsz));
  if (!ok)
    return ctx.error(absl::StrCat("bad operands q ", q.typeString(), ", k ", k.typeString(),
                                  ", v ", v.typeString(),
                                  validLen ? absl::StrCat(", valid_len ", validLen->typeString()) : "",
                                  qOffset ? absl::StrCat(", q_offset ", qOffset->typeString()) : ""));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, {bsz, hq, sq, dv}, q.dtype()));
  double scaleAttr = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(dk, 1)));
  if (ctx.hasAttr("scale")) {
    KILN_ASSIGN_OR_RETURN(scaleAttr, ctx.attrFloat("scale"));
  }
  KILN_ASSIGN_OR_RETURN(bool causal, ctx.attrBoolOr("causal", false));
  int64_t group = hq / hkv;
  return dispatchCompute(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> qv(q), kv(k), vv(v);
    WriteView<T> out(ctx.output(0));
    T scale = static_cast<T>(scaleAttr);
    ctx.parallelFor(bsz * hq * sq, 4.0 * sk * (dk + dv), [&](int64_t b0, int64_t e0) {
      std::vector<T> p(sk);
      for (int64_t r = b0; r < e0; ++r) {
        int64_t i = r % sq, h = (r / sq) % hq, b = r / (sq * hq);
        int64_t limit = validLen ? std::clamp<int64_t>(validLen->getInt(b), 0, sk) : sk;
        if (causal) {
          int64_t off = qOffset ? qOffset->getInt(b) : 0;
          // Visible keys j <= i + off; computed in a way that cannot overflow.
          int64_t last = i + std::clamp<int64_t>(off, -sk - sq, sk + sq);
          limit = std::min(limit, std::max<int64_t>(last + 1, 0));
        }
        T *o = out.data() + r * dv;
        std::fill(o, o + dv, T(0));
        if (limit <= 0)
          continue; // no visible key: the row is 0
        const T *qr = qv.data() + r * dk;
        const T *kb = kv.data() + ((b * hkv + h / group) * sk) * dk;
        const T *vb = vv.data() + ((b * hkv + h / group) * sk) * dv;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < limit; ++j) {
          T dot = 0;
          for (int64_t c = 0; c < dk; ++c)
            dot += qr[c] * kb[j * dk + c];
          p[j] = dot * scale;
          m = std::max(m, p[j]);
        }
        T sum = 0;
        for (int64_t j = 0; j < limit; ++j) {
          p[j] = std::exp(p[j] - m);
          sum += p[j];
        }
        T inv = T(1) / sum;
        for (int64_t j = 0; j < limit; ++j) {
          T w = p[j] * inv;
          for (int64_t c = 0; c < dv; ++c)
            o[c] += w * vb[j * dv + c];
        }
      }
    });
    out.commit();
    return absl::OkStatus();
  });
}

/// log_softmax(logits)[label] per row (0 for an out-of-range label), negated for
/// cross_entropy.
template <bool Negate> absl::Status labelLogprobKernel(const KernelContext &ctx) {
  KILN_RETURN_IF_ERROR(ctx.expectInputs(2));
  KILN_RETURN_IF_ERROR(ctx.expectOutputs(1));
  const HostTensor &x = ctx.input(0), &labels = ctx.input(1);
  std::vector<int64_t> rowShape(x.shape().begin(), x.shape().end() - (x.rank() > 0 ? 1 : 0));
  if (!isFloat(x.dtype()) || x.rank() < 1 || !isInteger(labels.dtype()) ||
      labels.shape() != rowShape)
    return ctx.error(absl::StrCat("needs logits [..., V] float and labels [...] int, got ",
                                  x.typeString(), " and ", labels.typeString()));
  KILN_RETURN_IF_ERROR(ctx.expectOutput(0, rowShape, x.dtype()));
  int64_t v = x.shape().back();
  int64_t rows = labels.numElements();
  ReadView<int64_t> lab(labels);
  return dispatchCompute(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ReadView<T> xv(x);
    WriteView<T> out(ctx.output(0));
    ctx.parallelFor(rows, 12.0 * v, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t l = lab[r];
        if (l < 0 || l >= v) {
          out[r] = 0;
          continue;
        }
        const T *row = xv.data() + r * v;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < v; ++j)
          m = std::max(m, row[j]);
        if (std::isinf(m) && m < 0)
          m = 0;
        T sum = 0;
        for (int64_t j = 0; j < v; ++j)
          sum += std::exp(row[j] - m);
        T lp = row[l] - m - std::log(sum);
        out[r] = Negate ? -lp : lp;
      }
    });
    out.commit();
    return absl::OkStatus();
  });
}

} // namespace

void registerModelKernels(KernelRegistry &r) {
  r["rotary"] = rotaryKernel;
  r["attention"] = attentionKernel;
  r["cross_entropy"] = labelLogprobKernel<true>;
  r["token_logprobs"] = labelLogprobKernel<false>;
}

} // namespace kiln
