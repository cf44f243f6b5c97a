// topk, sort and argsort: order, tie order (lower index first / stable) and NaN.
#include <numeric>

#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

TEST(Selection, TopkTiesAndNaN) {
  HostTensor x = HostTensor::fromDoubles(proto::F32, {2, 5}, {1, 3, 3, NAN, 2, 5, 5, 5, 1, 0});
  auto r = runOp("topk", {x}, {tt(proto::F32, {2, 3}), tt(proto::I64, {2, 3})}, {{"k", attrI(3)}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[1].toDoubles(), (std::vector<double>{3, 1, 2, 0, 1, 2}));
  std::vector<double> v = (*r)[0].toDoubles();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 3);
  EXPECT_EQ(v[3], 5);
}

TEST(Selection, TopkRandom) {
  HostTensor x = randomTensor(proto::BF16, {4, 3, 16});
  auto r = runOp("topk", {x}, {tt(proto::BF16, {4, 3, 4}), tt(proto::I64, {4, 3, 4})}, {{"k", attrI(4)}});
  ASSERT_TRUE(r.ok()) << r.status();
  for (int64_t row = 0; row < 12; ++row) {
    std::vector<int64_t> order(16);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return x.getDouble(row * 16 + a) > x.getDouble(row * 16 + b);
    });
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_EQ((*r)[1].getInt(row * 4 + j), order[j]);
      EXPECT_EQ((*r)[0].getDouble(row * 4 + j), x.getDouble(row * 16 + order[j]));
    }
  }
}

TEST(Selection, SortArgsortStable) {
  for (bool desc : {false, true}) {
    HostTensor x = HostTensor::fromDoubles(proto::F32, {2, 3}, {2, 1, 2, 1, 0, 1});
    // Sort along axis 0 (columns) and -1 (rows).
    HostTensor idx = run1("argsort", {x}, tt(proto::I64, {2, 3}), {{"axis", attrI(-1)}, {"descending", attrB(desc)}});
    if (!desc)
      EXPECT_EQ(idx.toDoubles(), (std::vector<double>{1, 0, 2, 1, 0, 2}));
    else
      EXPECT_EQ(idx.toDoubles(), (std::vector<double>{0, 2, 1, 0, 2, 1}));
    HostTensor r = randomInts(proto::I64, {5, 4}, 0, 3);
    HostTensor rf = HostTensor::fromDoubles(proto::F16, {5, 4}, r.toDoubles());
    HostTensor ai = run1("argsort", {rf}, tt(proto::I64, {5, 4}), {{"axis", attrI(0)}, {"descending", attrB(desc)}});
    HostTensor sv = run1("sort", {rf}, rf.type(), {{"axis", attrI(0)}, {"descending", attrB(desc)}});
    for (int64_t c = 0; c < 4; ++c) {
      std::vector<int64_t> order(5);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        double va = rf.getDouble(a * 4 + c), vb = rf.getDouble(b * 4 + c);
        return desc ? va > vb : va < vb;
      });
      for (int64_t j = 0; j < 5; ++j) {
        EXPECT_EQ(ai.getInt(j * 4 + c), order[j]);
        EXPECT_EQ(sv.getDouble(j * 4 + c), rf.getDouble(order[j] * 4 + c));
      }
    }
  }
}

} // namespace
} // namespace kiln
