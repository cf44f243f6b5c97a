// Reductions and normalisations against double references: several axes sets, negative
// axes, keepdims, NaN propagation, all -inf rows.
#include <cmath>
#include <limits>

#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

/// Reference reduce over `axes` of x (shape), calling f on each group's values.
std::vector<double> refReduce(const HostTensor &x, std::vector<int64_t> axes,
                              const std::function<double(const std::vector<double> &)> &f) {
  int64_t r = x.rank();
  std::vector<bool> red(r, false);
  for (int64_t a : axes)
    red[a < 0 ? a + r : a] = true;
  Shape kept;
  for (int64_t d = 0; d < r; ++d)
    if (!red[d])
      kept.push_back(x.dim(d));
  std::vector<std::vector<double>> groups(numElements(kept));
  for (int64_t i = 0; i < x.numElements(); ++i) {
    auto idx = unravel(i, x.shape());
    int64_t o = 0, k = 0;
    for (int64_t d = 0; d < r; ++d)
      if (!red[d])
        o = o * kept[k++] + idx[d];
    groups[o].push_back(x.getDouble(i));
  }
  std::vector<double> out;
  for (auto &g : groups)
    out.push_back(f(g));
  return out;
}

Shape reducedShape(const Shape &s, std::vector<int64_t> axes, bool keep) {
  Shape out;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    bool red = false;
    for (int64_t a : axes)
      red |= (a < 0 ? a + static_cast<int64_t>(s.size()) : a) == d;
    if (!red)
      out.push_back(s[d]);
    else if (keep)
      out.push_back(1);
  }
  return out;
}

TEST(Reduction, SumMeanMaxMinLogsumexp) {
  std::map<std::string, std::function<double(const std::vector<double> &)>> refs = {
      {"sum", [](const std::vector<double> &v) { double s = 0; for (double x : v) s += x; return s; }},
      {"mean", [](const std::vector<double> &v) { double s = 0; for (double x : v) s += x; return s / v.size(); }},
      {"max", [](const std::vector<double> &v) { return *std::max_element(v.begin(), v.end()); }},
      {"min", [](const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }},
      {"logsumexp", [](const std::vector<double> &v) {
         double m = *std::max_element(v.begin(), v.end()), s = 0;
         for (double x : v) s += std::exp(x - m);
         return m + std::log(s); }},
  };
  Shape shape = {3, 4, 5};
  for (auto &[op, f] : refs)
    for (proto::DType d : {proto::F64, proto::F32, proto::BF16})
      for (auto axes : std::vector<std::vector<int64_t>>{{-1}, {0}, {0, 2}, {1}, {0, 1, 2}})
        for (bool keep : {false, true}) {
          HostTensor x = randomTensor(d, shape);
          HostTensor y = run1(op, {x}, tt(d, reducedShape(shape, axes, keep)),
                              {{"axes", attrInts(axes)}, {"keepdims", attrB(keep)}});
          expectClose(y, refReduce(x, axes, f), op, 4);
        }
  HostTensor x = randomTensor(proto::F32, {2, 3});
  expectClose(run1("sum", {x}, x.type(), {{"axes", attrInts({})}, {"keepdims", attrB(false)}}),
              x.toDoubles(), "identity");
}

TEST(Reduction, IntAndSpecials) {
  HostTensor x = ints(proto::I32, {2, 3}, {2147483647, 1, 5, -3, 4, 9});
  EXPECT_EQ(run1("sum", {x}, tt(proto::I32, {2}), {{"axes", attrInts({1})}, {"keepdims", attrB(false)}}).toDoubles(),
            (std::vector<double>{-2147483643.0, 10})); // wraps
  EXPECT_EQ(run1("max", {x}, tt(proto::I32, {3}), {{"axes", attrInts({0})}, {"keepdims", attrB(false)}}).toDoubles(),
            (std::vector<double>{2147483647, 4, 9}));
  double inf = std::numeric_limits<double>::infinity();
  HostTensor f = HostTensor::fromDoubles(proto::F32, {2, 3}, {1, NAN, 2, -inf, -inf, -inf});
  std::vector<double> mx = run1("max", {f}, tt(proto::F32, {2}), {{"axes", attrInts({1})}, {"keepdims", attrB(false)}}).toDoubles();
  EXPECT_TRUE(std::isnan(mx[0]));
  std::vector<double> lse = run1("logsumexp", {f}, tt(proto::F32, {2}), {{"axes", attrInts({1})}, {"keepdims", attrB(false)}}).toDoubles();
  EXPECT_EQ(lse[1], -inf);
  EXPECT_FALSE(runOp("sum", {f}, {tt(proto::F32, {})}, {{"axes", attrInts({0, -2})}, {"keepdims", attrB(false)}}).ok());
}

TEST(Reduction, Argmax) {
  HostTensor x = HostTensor::fromDoubles(proto::F32, {3, 4}, {1, 3, 3, 2, NAN, 5, NAN, 1, -1, -1, -2, -1});
  EXPECT_EQ(run1("argmax", {x}, tt(proto::I64, {3}), {{"axis", attrI(-1)}, {"keepdims", attrB(false)}}).toDoubles(),
            (std::vector<double>{1, 0, 0}));
  HostTensor r = randomTensor(proto::BF16, {4, 6});
  HostTensor y = run1("argmax", {r}, tt(proto::I64, {1, 6}), {{"axis", attrI(0)}, {"keepdims", attrB(true)}});
  for (int64_t j = 0; j < 6; ++j) {
    int64_t best = 0;
    for (int64_t i = 1; i < 4; ++i)
      if (r.getDouble(i * 6 + j) > r.getDouble(best * 6 + j))
        best = i;
    EXPECT_EQ(y.getInt(j), best);
  }
}

TEST(Reduction, SoftmaxLogSoftmax) {
  for (proto::DType d : {proto::F64, proto::F32, proto::F16, proto::BF16})
    for (int64_t axis : {1, -3}) {
      HostTensor x = randomTensor(d, {3, 4, 5}, -4, 4);
      int64_t a = axis < 0 ? axis + 3 : axis;
      std::vector<double> sm(60), lsm(60);
      for (int64_t i = 0; i < 60; ++i) {
        auto idx = unravel(i, x.shape());
        double m = -1e300, s = 0;
        for (int64_t j = 0; j < x.dim(a); ++j) {
          auto k = idx;
          k[a] = j;
          m = std::max(m, x.getDouble((k[0] * 4 + k[1]) * 5 + k[2]));
        }
        for (int64_t j = 0; j < x.dim(a); ++j) {
          auto k = idx;
          k[a] = j;
          s += std::exp(x.getDouble((k[0] * 4 + k[1]) * 5 + k[2]) - m);
        }
        lsm[i] = x.getDouble(i) - m - std::log(s);
        sm[i] = std::exp(lsm[i]);
      }
      expectClose(run1("softmax", {x}, x.type(), {{"axis", attrI(axis)}}), sm, "softmax", 2);
      expectClose(run1("log_softmax", {x}, x.type(), {{"axis", attrI(axis)}}), lsm, "log_softmax", 2);
    }
}

TEST(Reduction, Cumsum) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true}) {
      HostTensor x = randomTensor(proto::F32, {3, 5});
      HostTensor y = run1("cumsum", {x}, x.type(),
                          {{"axis", attrI(-1)}, {"exclusive", attrB(exclusive)}, {"reverse", attrB(reverse)}});
      std::vector<double> ref(15);
      for (int64_t r = 0; r < 3; ++r) {
        double acc = 0;
        for (int64_t t = 0; t < 5; ++t) {
          int64_t j = reverse ? 4 - t : t;
          double v = x.getDouble(r * 5 + j);
          ref[r * 5 + j] = exclusive ? acc : acc + v;
          acc += v;
        }
      }
      expectClose(y, ref, "cumsum", 2);
    }
  HostTensor i = ints(proto::I64, {2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(run1("cumsum", {i}, i.type(), {{"axis", attrI(0)}, {"exclusive", attrB(false)}, {"reverse", attrB(false)}}).toDoubles(),
            (std::vector<double>{1, 2, 4, 6}));
}

TEST(Reduction, RmsNorm) {
  for (proto::DType d : {proto::F64, proto::F32, proto::BF16}) {
    HostTensor x = randomTensor(d, {2, 3, 8});
    HostTensor w = randomTensor(d, {8}, 0.5, 1.5);
    HostTensor y = run1("rms_norm", {x, w}, x.type(), {{"eps", attrF(1e-5)}});
    std::vector<double> ref(48);
    for (int64_t r = 0; r < 6; ++r) {
      double ss = 0;
      for (int64_t j = 0; j < 8; ++j)
        ss += x.getDouble(r * 8 + j) * x.getDouble(r * 8 + j);
      double sc = 1 / std::sqrt(ss / 8 + 1e-5);
      for (int64_t j = 0; j < 8; ++j)
        ref[r * 8 + j] = w.getDouble(j) * x.getDouble(r * 8 + j) * sc;
    }
    expectClose(y, ref, "rms_norm", 2);
  }
}

} // namespace
} // namespace kiln
