// Data-movement ops against plain-loop references, including clamped and dropped indices.
#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

TEST(Shape, ReshapeAndTranspose) {
  HostTensor x = randomTensor(proto::BF16, {2, 3, 4});
  HostTensor r = run1("reshape", {x}, tt(proto::BF16, {6, 4}), {{"shape", attrInts({6, 4})}});
  expectClose(r, x.toDoubles(), "reshape", 0);
  HostTensor t = run1("transpose", {x}, tt(proto::BF16, {4, 2, 3}), {{"perm", attrInts({2, 0, -2})}});
  std::vector<double> xv = x.toDoubles(), ref;
  for (int64_t k = 0; k < 4; ++k)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        ref.push_back(xv[(i * 3 + j) * 4 + k]);
  expectClose(t, ref, "transpose", 0);
  EXPECT_FALSE(runOp("reshape", {x}, {tt(proto::BF16, {5, 5})}, {{"shape", attrInts({5, 5})}}).ok());
  EXPECT_FALSE(runOp("transpose", {x}, {tt(proto::BF16, {2, 3, 4})}, {{"perm", attrInts({0, 0, 1})}}).ok());
}

TEST(Shape, BroadcastToAndSlice) {
  HostTensor x = randomTensor(proto::F32, {3, 1});
  HostTensor b = run1("broadcast_to", {x}, tt(proto::F32, {2, 3, 4}), {{"shape", attrInts({2, 3, 4})}});
  std::vector<double> ref;
  for (int64_t i = 0; i < 24; ++i)
    ref.push_back(x.getDouble((i / 4) % 3));
  expectClose(b, ref, "broadcast_to", 0);

  HostTensor y = randomTensor(proto::F16, {5, 7});
  HostTensor s = run1("slice", {y}, tt(proto::F16, {2, 3}),
                      {{"start", attrInts({1, 0})}, {"limit", attrInts({5, 7})}, {"stride", attrInts({2, 3})}});
  ref.clear();
  for (int64_t i = 1; i < 5; i += 2)
    for (int64_t j = 0; j < 7; j += 3)
      ref.push_back(y.getDouble(i * 7 + j));
  expectClose(s, ref, "slice", 0);
  EXPECT_FALSE(runOp("slice", {y}, {tt(proto::F16, {1, 1})},
                     {{"start", attrInts({4, 0})}, {"limit", attrInts({6, 1})}, {"stride", attrInts({1, 1})}})
                   .ok());
}

TEST(Shape, DynamicUpdateSliceClamps) {
  HostTensor x = randomTensor(proto::F32, {4, 5});
  HostTensor u = randomTensor(proto::F32, {2, 3});
  for (auto [s0, s1] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 9}, {-4, 2}}) {
    HostTensor st = ints(proto::I64, {2}, {s0, s1});
    HostTensor y = run1("dynamic_update_slice", {x, u, st}, x.type());
    int64_t c0 = std::clamp<int64_t>(s0, 0, 2), c1 = std::clamp<int64_t>(s1, 0, 2);
    std::vector<double> ref = x.toDoubles();
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        ref[(c0 + i) * 5 + c1 + j] = u.getDouble(i * 3 + j);
    expectClose(y, ref, "dus", 0);
  }
}

TEST(Shape, Concat) {
  HostTensor a = randomTensor(proto::F32, {2, 2, 3}), b = randomTensor(proto::F32, {2, 1, 3});
  HostTensor y = run1("concat", {a, b}, tt(proto::F32, {2, 3, 3}), {{"axis", attrI(-2)}});
  std::vector<double> ref;
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 6; ++j)
      ref.push_back(a.getDouble(i * 6 + j));
    for (int64_t j = 0; j < 3; ++j)
      ref.push_back(b.getDouble(i * 3 + j));
  }
  expectClose(y, ref, "concat", 0);
}

TEST(Shape, GatherClamps) {
  HostTensor x = randomTensor(proto::F32, {3, 4, 2});
  HostTensor idx = ints(proto::I32, {2, 2}, {0, 3, -5, 99});
  HostTensor y = run1("gather", {x, idx}, tt(proto::F32, {3, 2, 2, 2}), {{"axis", attrI(1)}});
  std::vector<double> ref;
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t i = 0; i < 2; ++i)
        ref.push_back(x.getDouble((o * 4 + std::clamp<int64_t>(idx.getInt(j), 0, 3)) * 2 + i));
  expectClose(y, ref, "gather", 0);
}

TEST(Shape, TakeAlongAxis) {
  HostTensor x = randomTensor(proto::BF16, {3, 5});
  HostTensor idx = ints(proto::I64, {3, 2}, {4, 0, 1, 1, -1, 7});
  HostTensor y = run1("take_along_axis", {x, idx}, tt(proto::BF16, {3, 2}), {{"axis", attrI(-1)}});
  std::vector<double> ref;
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t j = 0; j < 2; ++j)
      ref.push_back(x.getDouble(r * 5 + std::clamp<int64_t>(idx.getInt(r * 2 + j), 0, 4)));
  expectClose(y, ref, "take_along_axis", 0);
}

TEST(Shape, PutAlongAxisBroadcastsDropsAndKeepsTheLast) {
  // x [2, 4, 3]; indices [2, 3, 1] broadcast along the last dim: row 0 puts
  // slot 2 twice (the second wins) and slot 0; row 1 puts -1 and 4 (nothing)
  // and slot 3.
  HostTensor x = randomTensor(proto::BF16, {2, 4, 3});
  HostTensor idx = ints(proto::I64, {2, 3, 1}, {2, 0, 2, -1, 4, 3});
  HostTensor v = randomTensor(proto::BF16, {2, 3, 3});
  HostTensor y =
      run1("put_along_axis", {x, idx, v}, x.type(), {{"axis", attrI(1)}});
  std::vector<double> ref = x.toDoubles();
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t j = 0; j < 3; ++j) {
      int64_t k = idx.getInt(o * 3 + j);
      if (k < 0 || k >= 4)
        continue;
      for (int64_t i = 0; i < 3; ++i)
        ref[(o * 4 + k) * 3 + i] = v.getDouble((o * 3 + j) * 3 + i);
    }
  expectClose(y, ref, "put_along_axis", 0);
}

TEST(Shape, ScatterAddDropsAndAccumulates) {
  for (proto::DType d : {proto::F32, proto::BF16, proto::I32}) {
    HostTensor x = isFloat(d) ? randomTensor(d, {2, 4}) : randomInts(d, {2, 4}, -9, 9);
    HostTensor idx = ints(proto::I64, {5}, {1, 3, 1, -1, 4});
    HostTensor u = isFloat(d) ? randomTensor(d, {2, 5}) : randomInts(d, {2, 5}, -9, 9);
    HostTensor y = run1("scatter_add", {x, idx, u}, x.type(), {{"axis", attrI(1)}});
    std::vector<double> ref = x.toDoubles();
    for (int64_t o = 0; o < 2; ++o)
      for (int64_t j = 0; j < 5; ++j) {
        int64_t k = idx.getInt(j);
        if (k >= 0 && k < 4)
          ref[o * 4 + k] += u.getDouble(o * 5 + j);
      }
    expectClose(y, ref, "scatter_add", 2);
  }
}

TEST(Shape, OneHotAndBincount) {
  HostTensor idx = ints(proto::I32, {2, 2}, {0, 2, -1, 3});
  HostTensor y = run1("one_hot", {idx}, tt(proto::BF16, {2, 2, 3}),
                      {{"depth", attrI(3)}, {"dtype", attrType(proto::BF16)}});
  EXPECT_EQ(y.toDoubles(), (std::vector<double>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  HostTensor v = ints(proto::I64, {7}, {0, 1, 1, 4, -2, 9, 1});
  EXPECT_EQ(run1("bincount", {v}, tt(proto::I64, {5}), {{"length", attrI(5)}}).toDoubles(),
            (std::vector<double>{1, 3, 0, 0, 1}));
}

} // namespace
} // namespace kiln
