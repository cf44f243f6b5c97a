// Composite model ops: rotary (both layouts), attention (GQA, causal, q_offset,
// valid_len, fully masked rows), cross_entropy and token_logprobs with ignored labels.
#include <cmath>

#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

TEST(ModelOps, Rotary) {
  for (bool inter : {false, true})
    for (proto::DType d : {proto::F32, proto::BF16}) {
      int64_t b = 2, s = 3, dim = 8, half = 4;
      HostTensor x = randomTensor(d, {b, s, dim});
      HostTensor c = randomTensor(d, {s, half}), sn = randomTensor(d, {s, half});
      HostTensor y = run1("rotary", {x, c, sn}, x.type(), {{"interleaved", attrB(inter)}});
      std::vector<double> ref(x.numElements());
      for (int64_t r = 0; r < b * s; ++r)
        for (int64_t i = 0; i < half; ++i) {
          int64_t ia = r * dim + (inter ? 2 * i : i), ib = r * dim + (inter ? 2 * i + 1 : i + half);
          double cs = c.getDouble((r % s) * half + i), si = sn.getDouble((r % s) * half + i);
          ref[ia] = x.getDouble(ia) * cs - x.getDouble(ib) * si;
          ref[ib] = x.getDouble(ib) * cs + x.getDouble(ia) * si;
        }
      expectClose(y, ref, "rotary", 2);
    }
}

std::vector<double> refAttention(const HostTensor &q, const HostTensor &k, const HostTensor &v,
                                 const std::vector<int64_t> *validLen, const std::vector<int64_t> *qOff,
                                 double scale, bool causal) {
  int64_t B = q.dim(0), Hq = q.dim(1), Sq = q.dim(2), Dk = q.dim(3), Hkv = k.dim(1), Sk = k.dim(2),
          Dv = v.dim(3);
  std::vector<double> out(B * Hq * Sq * Dv, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        int64_t kh = h / (Hq / Hkv);
        std::vector<double> sc;
        std::vector<int64_t> vis;
        for (int64_t j = 0; j < Sk; ++j) {
          if (validLen && j >= (*validLen)[b])
            continue;
          if (causal && j > i + (qOff ? (*qOff)[b] : 0))
            continue;
          double dot = 0;
          for (int64_t c = 0; c < Dk; ++c)
            dot += q.getDouble(((b * Hq + h) * Sq + i) * Dk + c) * k.getDouble(((b * Hkv + kh) * Sk + j) * Dk + c);
          sc.push_back(dot * scale);
          vis.push_back(j);
        }
        if (vis.empty())
          continue;
        double m = *std::max_element(sc.begin(), sc.end()), s = 0;
        for (double &x : sc)
          s += (x = std::exp(x - m));
        for (size_t t = 0; t < vis.size(); ++t)
          for (int64_t c = 0; c < Dv; ++c)
            out[((b * Hq + h) * Sq + i) * Dv + c] +=
                sc[t] / s * v.getDouble(((b * Hkv + kh) * Sk + vis[t]) * Dv + c);
      }
  return out;
}

TEST(ModelOps, AttentionGqaCausalOffsetValidLen) {
  int64_t B = 2, Hq = 4, Hkv = 2, Sq = 3, Sk = 6, Dk = 5, Dv = 4;
  std::vector<int64_t> validLen = {6, 2}, qOff = {3, -1};
  for (proto::DType d : {proto::F64, proto::F32, proto::BF16}) {
    HostTensor q = randomTensor(d, {B, Hq, Sq, Dk}), k = randomTensor(d, {B, Hkv, Sk, Dk}),
               v = randomTensor(d, {B, Hkv, Sk, Dv});
    HostTensor vl = ints(proto::I32, {B}, validLen), qo = ints(proto::I64, {B}, qOff);
    double scale = 0.37;
    Attrs base = {{"scale", attrF(scale)}, {"causal", attrB(true)}};
    // Batch 1 with q_offset -1: query 0 sees no key -> a zero row.
    Attrs both = base;
    both["operandSegmentSizes"] = attrInts({1, 1, 1, 1, 1});
    HostTensor y = run1("attention", {q, k, v, vl, qo}, tt(d, {B, Hq, Sq, Dv}), both);
    expectClose(y, refAttention(q, k, v, &validLen, &qOff, scale, true), "attention both", 4);
    for (int64_t c = 0; c < Dv; ++c)
      EXPECT_EQ(y.getDouble(((1 * Hq + 2) * Sq + 0) * Dv + c), 0.0);

    Attrs onlyOff = base;
    onlyOff["operandSegmentSizes"] = attrInts({1, 1, 1, 0, 1});
    expectClose(run1("attention", {q, k, v, qo}, tt(d, {B, Hq, Sq, Dv}), onlyOff),
                refAttention(q, k, v, nullptr, &qOff, scale, true), "attention q_offset", 4);
    Attrs nonCausal = {{"scale", attrF(scale)}, {"causal", attrB(false)}};
    expectClose(run1("attention", {q, k, v, vl}, tt(d, {B, Hq, Sq, Dv}), nonCausal),
                refAttention(q, k, v, &validLen, nullptr, scale, false), "attention valid_len", 4);
    expectClose(run1("attention", {q, k, v}, tt(d, {B, Hq, Sq, Dv}), base),
                refAttention(q, k, v, nullptr, nullptr, scale, true), "attention causal", 4);
  }
  HostTensor q = randomTensor(proto::F32, {1, 3, 2, 4}), k = randomTensor(proto::F32, {1, 2, 2, 4});
  EXPECT_FALSE(runOp("attention", {q, k, k}, {tt(proto::F32, {1, 3, 2, 4})}, {{"scale", attrF(1)}}).ok());
}

TEST(ModelOps, CrossEntropyAndTokenLogprobs) {
  for (proto::DType d : {proto::F32, proto::BF16, proto::F64}) {
    HostTensor x = randomTensor(d, {2, 3, 7}, -4, 4);
    HostTensor lab = ints(proto::I32, {2, 3}, {0, 6, -1, 3, 7, 2});
    std::vector<double> lp(6);
    for (int64_t r = 0; r < 6; ++r) {
      int64_t l = lab.getInt(r);
      if (l < 0 || l >= 7)
        continue;
      double m = -1e300, s = 0;
      for (int64_t j = 0; j < 7; ++j)
        m = std::max(m, x.getDouble(r * 7 + j));
      for (int64_t j = 0; j < 7; ++j)
        s += std::exp(x.getDouble(r * 7 + j) - m);
      lp[r] = x.getDouble(r * 7 + l) - m - std::log(s);
    }
    std::vector<double> ce(6);
    for (int64_t r = 0; r < 6; ++r)
      ce[r] = lp[r] == 0 ? 0 : -lp[r];
    expectClose(run1("token_logprobs", {x, lab}, tt(d, {2, 3})), lp, "token_logprobs", 2);
    expectClose(run1("cross_entropy", {x, lab}, tt(d, {2, 3})), ce, "cross_entropy", 2);
  }
}

} // namespace
} // namespace kiln
