// Source ops: constant, iota, and the Philox random ops (known-answer, determinism,
// distribution sanity over 1e5 samples).
#include <cmath>
#include <limits>

#include "TestUtil.h"
#include "executor/cpu/Philox.h"

namespace kiln {
namespace {
using namespace test;

TEST(Random, PhiloxKnownAnswer) {
  // Random123 known-answer vectors for philox4x32-10.
  philox::Words zero = philox::philox4x32({0, 0, 0, 0}, 0, 0);
  EXPECT_EQ(zero, (philox::Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  philox::Words pi = philox::philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                                        0xa4093822, 0x299f31d0);
  EXPECT_EQ(pi, (philox::Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Random, ConstantAndIota) {
  HostTensor v = randomTensor(proto::BF16, {2, 3});
  expectClose(run1("constant", {}, v.type(), {{"value", attrTensor(v)}}), v.toDoubles(), "constant", 0);
  EXPECT_FALSE(runOp("constant", {}, {tt(proto::F32, {2, 3})}, {{"value", attrTensor(v)}}).ok());
  EXPECT_EQ(run1("iota", {}, tt(proto::I32, {2, 3}), {{"dimension", attrI(1)}}).toDoubles(),
            (std::vector<double>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(run1("iota", {}, tt(proto::F32, {2, 3}), {{"dimension", attrI(0)}}).toDoubles(),
            (std::vector<double>{0, 0, 0, 1, 1, 1}));
}

HostTensor key(int64_t k) { return ints(proto::I64, {}, {k}); }

TEST(Random, UniformAndNormal) {
  const int64_t n = 100000;
  for (const char *op : {"random_uniform", "random_normal"}) {
    HostTensor a = run1(op, {key(42)}, tt(proto::F32, {n}));
    HostTensor b = run1(op, {key(42)}, tt(proto::F32, {n}));
    HostTensor c = run1(op, {key(43)}, tt(proto::F32, {n}));
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.byteSize()), 0) << op;
    EXPECT_NE(std::memcmp(a.data(), c.data(), a.byteSize()), 0) << op;
    double s = 0, ss = 0, lo = 1e9, hi = -1e9;
    for (int64_t i = 0; i < n; ++i) {
      double v = a.getDouble(i);
      s += v;
      ss += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    double mean = s / n, sd = std::sqrt(ss / n - mean * mean);
    if (std::string(op) == "random_uniform") {
      EXPECT_NEAR(mean, 0.5, 0.01);
      EXPECT_NEAR(sd, std::sqrt(1.0 / 12), 0.01);
      EXPECT_GE(lo, 0.0);
      EXPECT_LT(hi, 1.0);
      // The pinned rule: first Philox word >> 8, times 2^-24.
      EXPECT_EQ(a.getDouble(7), (philox::wordsAt(42, 7)[0] >> 8) * 0x1p-24);
    } else {
      EXPECT_NEAR(mean, 0.0, 0.02);
      EXPECT_NEAR(sd, 1.0, 0.02);
    }
  }
  // Other dtypes draw the same stream, rounded once.
  HostTensor d = run1("random_normal", {key(7)}, tt(proto::F64, {16}));
  HostTensor h = run1("random_normal", {key(7)}, tt(proto::BF16, {16}));
  expectClose(h, d.toDoubles(), "bf16 normal");
}

TEST(Random, Categorical) {
  const int64_t rows = 20000;
  std::vector<double> logits = {0.0, std::log(2.0), -std::numeric_limits<double>::infinity(), std::log(5.0)};
  std::vector<double> all;
  for (int64_t r = 0; r < rows; ++r)
    all.insert(all.end(), logits.begin(), logits.end());
  HostTensor l = HostTensor::fromDoubles(proto::F32, {rows, 4}, all);
  HostTensor s = run1("random_categorical", {key(5), l}, tt(proto::I64, {rows}));
  HostTensor s2 = run1("random_categorical", {key(5), l}, tt(proto::I64, {rows}));
  EXPECT_EQ(std::memcmp(s.data(), s2.data(), s.byteSize()), 0);
  std::vector<double> count(4, 0);
  for (int64_t r = 0; r < rows; ++r)
    count[s.getInt(r)] += 1.0 / rows;
  EXPECT_NEAR(count[0], 1.0 / 8, 0.015);
  EXPECT_NEAR(count[1], 2.0 / 8, 0.015);
  EXPECT_EQ(count[2], 0.0);
  EXPECT_NEAR(count[3], 5.0 / 8, 0.015);
  double inf = std::numeric_limits<double>::infinity();
  HostTensor allInf = HostTensor::fromDoubles(proto::F32, {1, 3}, {-inf, -inf, -inf});
  EXPECT_EQ(run1("random_categorical", {key(1), allInf}, tt(proto::I64, {1})).getInt(0), 0);
}

TEST(Random, CategoricalPerRowKeysDrawEachRowAsIfAlone) {
  const int64_t rows = 6, v = 50;
  std::vector<double> all;
  for (int64_t i = 0; i < rows * v; ++i)
    all.push_back(std::sin(0.37 * i));
  HostTensor l = HostTensor::fromDoubles(proto::F32, {rows, v}, all);
  HostTensor keys = ints(proto::I64, {rows}, {3, 3, 90, 7, 12, 5});
  HostTensor s = run1("random_categorical", {keys, l}, tt(proto::I64, {rows}));
  int64_t differs = 0;
  for (int64_t r = 0; r < rows; ++r) {
    HostTensor row = HostTensor::fromDoubles(
        proto::F32, {1, v}, std::vector<double>(all.begin() + r * v, all.begin() + (r + 1) * v));
    HostTensor alone = run1("random_categorical", {key(keys.getInt(r)), row}, tt(proto::I64, {1}));
    EXPECT_EQ(s.getInt(r), alone.getInt(0)) << "row " << r;
    // The single-key form counts by flat index, so rows past the first differ.
    HostTensor flat = run1("random_categorical", {key(keys.getInt(r)), l}, tt(proto::I64, {rows}));
    differs += flat.getInt(r) != s.getInt(r);
  }
  EXPECT_GT(differs, 0);
  HostTensor badKeys = ints(proto::I64, {rows + 1}, {1, 2, 3, 4, 5, 6, 7});
  auto bad = runOp("random_categorical", {badKeys, l}, {tt(proto::I64, {rows})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("per-row keys must be int of the rows' shape"),
            std::string::npos)
      << bad.status();
}

} // namespace
} // namespace kiln
