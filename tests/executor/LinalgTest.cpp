// matmul (transposes, batch broadcasting, threaded sizes) and grouped_matmul in both
// modes against double loops.
#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

/// Reference matmul with numpy batch broadcasting and transpose flags.
std::vector<double> refMatmul(const HostTensor &a, const HostTensor &b, bool ta, bool tb, Shape &outShape) {
  int64_t ra = a.rank(), rb = b.rank();
  int64_t m = a.dim(ra - (ta ? 1 : 2)), k = a.dim(ra - (ta ? 2 : 1)), n = b.dim(rb - (tb ? 2 : 1));
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = *broadcastShapes(ab, bb);
  outShape = batch;
  outShape.push_back(m);
  outShape.push_back(n);
  std::vector<double> out;
  for (int64_t bi = 0; bi < numElements(batch); ++bi) {
    auto idx = unravel(bi, batch);
    int64_t ao = broadcastIndex(idx, ab) * a.dim(ra - 2) * a.dim(ra - 1);
    int64_t bo = broadcastIndex(idx, bb) * b.dim(rb - 2) * b.dim(rb - 1);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t c = 0; c < k; ++c)
          s += a.getDouble(ao + (ta ? c * m + i : i * k + c)) * b.getDouble(bo + (tb ? j * k + c : c * n + j));
        out.push_back(s);
      }
  }
  return out;
}

TEST(Linalg, MatmulTransposesAndBatching) {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  std::vector<Case> cases = {{{3, 4}, {4, 5}, false, false},   {{4, 3}, {4, 5}, true, false},
                             {{3, 4}, {5, 4}, false, true},    {{4, 3}, {5, 4}, true, true},
                             {{2, 3, 4}, {4, 5}, false, false}, {{3, 4}, {2, 4, 5}, false, false},
                             {{2, 1, 3, 4}, {3, 5, 4}, false, true}, {{1, 7}, {7, 1}, false, false}};
  for (proto::DType d : {proto::F64, proto::F32, proto::BF16, proto::F16})
    for (const Case &c : cases) {
      HostTensor a = randomTensor(d, c.a), b = randomTensor(d, c.b);
      Shape os;
      std::vector<double> ref = refMatmul(a, b, c.ta, c.tb, os);
      HostTensor y = run1("matmul", {a, b}, tt(d, os), {{"transpose_a", attrB(c.ta)}, {"transpose_b", attrB(c.tb)}});
      expectClose(y, ref, "matmul", 4);
    }
}

TEST(Linalg, MatmulLargeThreaded) {
  // Big enough for the threaded contraction path.
  for (auto [ta, tb] : std::vector<std::pair<bool, bool>>{{false, false}, {true, true}}) {
    HostTensor a = randomTensor(proto::F32, ta ? Shape{96, 80} : Shape{80, 96});
    HostTensor b = randomTensor(proto::F32, tb ? Shape{72, 96} : Shape{96, 72});
    Shape os;
    std::vector<double> ref = refMatmul(a, b, ta, tb, os);
    HostTensor y = run1("matmul", {a, b}, tt(proto::F32, os), {{"transpose_a", attrB(ta)}, {"transpose_b", attrB(tb)}});
    expectClose(y, ref, "matmul", 10);
  }
  EXPECT_FALSE(runOp("matmul", {randomTensor(proto::F32, {2, 3}), randomTensor(proto::F32, {4, 2})},
                     {tt(proto::F32, {2, 2})}).ok());
}

TEST(Linalg, GroupedMatmulRows) {
  // 4 groups, group 1 empty, rows 9..10 past the last offset are 0.
  int64_t t = 11, k = 5, n = 3, e = 4;
  HostTensor offs = ints(proto::I32, {e}, {3, 3, 7, 9});
  for (bool tw : {false, true})
    for (proto::DType d : {proto::F32, proto::BF16}) {
      HostTensor x = randomTensor(d, {t, k});
      HostTensor w = randomTensor(d, tw ? Shape{e, n, k} : Shape{e, k, n});
      HostTensor y = run1("grouped_matmul", {x, w, offs}, tt(d, {t, n}),
                          {{"mode", attrS("rows")}, {"transpose_w", attrB(tw)}});
      std::vector<double> ref(t * n, 0.0);
      int64_t start = 0;
      for (int64_t g = 0; g < e; ++g) {
        int64_t end = offs.getInt(g);
        for (int64_t r = start; r < end; ++r)
          for (int64_t j = 0; j < n; ++j) {
            double s = 0;
            for (int64_t c = 0; c < k; ++c)
              s += x.getDouble(r * k + c) * w.getDouble(g * k * n + (tw ? j * k + c : c * n + j));
            ref[r * n + j] = s;
          }
        start = end;
      }
      expectClose(y, ref, "grouped_matmul rows", 4);
    }
}

TEST(Linalg, GroupedMatmulContract) {
  int64_t t = 10, k = 4, n = 3, e = 3;
  HostTensor offs = ints(proto::I64, {e}, {4, 4, 8});
  HostTensor x = randomTensor(proto::F32, {t, k}), dy = randomTensor(proto::F32, {t, n});
  HostTensor y = run1("grouped_matmul", {x, dy, offs}, tt(proto::F32, {e, k, n}), {{"mode", attrS("contract")}});
  std::vector<double> ref(e * k * n, 0.0);
  int64_t start = 0;
  for (int64_t g = 0; g < e; ++g) {
    int64_t end = offs.getInt(g);
    for (int64_t r = start; r < end; ++r)
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < n; ++j)
          ref[(g * k + i) * n + j] += x.getDouble(r * k + i) * dy.getDouble(r * n + j);
    start = end;
  }
  expectClose(y, ref, "grouped_matmul contract", 4);
  // Wild offsets are clamped, never read out of range.
  HostTensor bad = ints(proto::I64, {e}, {-5, 100, 2});
  auto r = runOp("grouped_matmul", {x, dy, bad}, {tt(proto::F32, {e, k, n})}, {{"mode", attrS("contract")}});
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(runOp("grouped_matmul", {x, dy, offs}, {tt(proto::F32, {e, k, n})}, {{"mode", attrS("cols")}}).ok());
}

} // namespace
} // namespace kiln
