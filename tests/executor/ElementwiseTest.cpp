// Elementwise ops against double references: unary math in every float dtype, binary
// ops with broadcasting (float and int), comparisons, logical ops, select and cast.
#include <cmath>
#include <functional>
#include <limits>

#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

const std::vector<proto::DType> kFloats = {proto::F64, proto::F32, proto::F16, proto::BF16};

struct UnaryCase {
  std::string op;
  std::function<double(double)> ref;
  double lo, hi;
};

TEST(Elementwise, UnaryAllFloatTypes) {
  std::vector<UnaryCase> cases = {
      {"neg", [](double x) { return -x; }, -3, 3},
      {"abs", [](double x) { return std::fabs(x); }, -3, 3},
      {"sign", [](double x) { return double((x > 0) - (x < 0)); }, -3, 3},
      {"exp", [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](double x) { return std::log(x); }, 0.1, 5},
      {"sqrt", [](double x) { return std::sqrt(x); }, 0.1, 5},
      {"rsqrt", [](double x) { return 1 / std::sqrt(x); }, 0.1, 5},
      {"tanh", [](double x) { return std::tanh(x); }, -3, 3},
      {"sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }, -5, 5},
      {"silu", [](double x) { return x / (1 + std::exp(-x)); }, -5, 5},
      {"gelu", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4, 4},
      {"erf", [](double x) { return std::erf(x); }, -3, 3},
      {"sin", [](double x) { return std::sin(x); }, -3, 3},
      {"cos", [](double x) { return std::cos(x); }, -3, 3},
  };
  for (const UnaryCase &c : cases)
    for (proto::DType d : kFloats) {
      HostTensor x = randomTensor(d, {3, 17}, c.lo, c.hi);
      HostTensor y = run1(c.op, {x}, x.type());
      std::vector<double> ref;
      for (double v : x.toDoubles())
        ref.push_back(c.ref(v));
      // f32 transcendental results carry a few ulps.
      expectClose(y, ref, c.op, d == proto::F32 ? 4 : 1);
    }
}

TEST(Elementwise, UnarySpecials) {
  HostTensor x = HostTensor::fromDoubles(proto::F32, {3}, {0.0, NAN, -0.0});
  std::vector<double> s = run1("sign", {x}, x.type()).toDoubles();
  EXPECT_EQ(s[0], 0);
  EXPECT_TRUE(std::isnan(s[1]));
  HostTensor i = ints(proto::I32, {3}, {-5, 0, 7});
  EXPECT_EQ(run1("abs", {i}, i.type()).toDoubles(), (std::vector<double>{5, 0, 7}));
  EXPECT_EQ(run1("neg", {i}, i.type()).toDoubles(), (std::vector<double>{5, 0, -7}));
  EXPECT_EQ(run1("sign", {i}, i.type()).toDoubles(), (std::vector<double>{-1, 0, 1}));
  // exp on an int is not an op: a clear error, no crash.
  auto r = runOp("exp", {i}, {i.type()});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("kiln.exp at test.cc:1:1"), std::string::npos)
      << r.status();
}

struct BinaryCase {
  std::string op;
  std::function<double(double, double)> ref;
};

TEST(Elementwise, BinaryBroadcastFloat) {
  std::vector<BinaryCase> cases = {
      {"add", std::plus<double>()},
      {"sub", std::minus<double>()},
      {"mul", std::multiplies<double>()},
      {"div", std::divides<double>()},
      {"pow", [](double a, double b) { return std::pow(a, b); }},
      {"maximum", [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](double a, double b) { return std::min(a, b); }},
  };
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 5}, {4, 5}}, {{4, 5}, {}}, {{2, 1, 5}, {3, 1}}, {{5}, {3, 4, 5}}, {{1}, {2, 3}}};
  for (const BinaryCase &c : cases)
    for (proto::DType d : kFloats)
      for (auto [sa, sb] : shapes) {
        double lo = c.op == "pow" ? 0.2 : -3;
        HostTensor a = randomTensor(d, sa, lo, 3);
        HostTensor b = randomTensor(d, sb, c.op == "pow" ? -2 : 0.5, 2);
        Shape so = *broadcastShapes(sa, sb);
        HostTensor y = run1(c.op, {a, b}, tt(d, so));
        std::vector<double> av = a.toDoubles(), bv = b.toDoubles(), ref;
        for (int64_t i = 0; i < numElements(so); ++i) {
          auto idx = unravel(i, so);
          ref.push_back(c.ref(av[broadcastIndex(idx, sa)], bv[broadcastIndex(idx, sb)]));
        }
        expectClose(y, ref, c.op, 2);
      }
}

TEST(Elementwise, Fp8ComputesInF32AndRoundsOnce) {
  for (proto::DType d : {proto::F8E4M3FN, proto::F8E5M2}) {
    HostTensor a = randomTensor(d, {4, 8}, -3, 3), b = randomTensor(d, {8}, -3, 3);
    std::vector<double> sum, prod, ex;
    for (int64_t i = 0; i < 32; ++i) {
      sum.push_back(a.getDouble(i) + b.getDouble(i % 8));
      prod.push_back(a.getDouble(i) * b.getDouble(i % 8));
      ex.push_back(std::exp(a.getDouble(i)));
    }
    expectClose(run1("add", {a, b}, a.type()), sum, "fp8 add");
    expectClose(run1("mul", {a, b}, a.type()), prod, "fp8 mul");
    expectClose(run1("exp", {a}, a.type()), ex, "fp8 exp");
    // Results beyond the format's range saturate instead of becoming inf.
    HostTensor big = HostTensor::fromDoubles(d, {1}, {d == proto::F8E4M3FN ? 448.0 : 57344.0});
    EXPECT_EQ(run1("add", {big, big}, big.type()).getDouble(0), big.getDouble(0));
  }
}

TEST(Elementwise, BinaryInt) {
  HostTensor a = ints(proto::I32, {2, 3}, {7, -7, 5, 0, 2147483647, -9});
  HostTensor b = ints(proto::I32, {3}, {2, 0, -2});
  EXPECT_EQ(run1("div", {a, b}, a.type()).toDoubles(),
            (std::vector<double>{3, 0, -2, 0, 0, 4}));
  EXPECT_EQ(run1("add", {a, b}, a.type()).toDoubles(),
            (std::vector<double>{9, -7, 3, 2, 2147483647, -11}));
  // Wraps to the result width.
  HostTensor big = ints(proto::I32, {1}, {2147483647});
  HostTensor one = ints(proto::I32, {1}, {1});
  EXPECT_EQ(run1("add", {big, one}, big.type()).toDoubles()[0], -2147483648.0);
  HostTensor s = ints(proto::I8, {2}, {100, -100});
  EXPECT_EQ(run1("mul", {s, ints(proto::I8, {}, {2})}, s.type()).toDoubles(),
            (std::vector<double>{-56, 56}));
  HostTensor r = randomInts(proto::I64, {4, 6}, -50, 50);
  HostTensor q = randomInts(proto::I64, {6}, -50, 50);
  std::vector<double> mx = run1("maximum", {r, q}, r.type()).toDoubles();
  for (int64_t i = 0; i < 24; ++i)
    EXPECT_EQ(mx[i], std::max(r.getDouble(i), q.getDouble(i % 6)));
}

TEST(Elementwise, MaxMinPropagateNaN) {
  HostTensor a = HostTensor::fromDoubles(proto::F32, {3}, {NAN, 1, 2});
  HostTensor b = HostTensor::fromDoubles(proto::F32, {3}, {1, NAN, 1});
  for (const char *op : {"maximum", "minimum"}) {
    std::vector<double> y = run1(op, {a, b}, a.type()).toDoubles();
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1])) << op;
  }
}

TEST(Elementwise, Comparisons) {
  std::vector<BinaryCase> cases = {
      {"equal", [](double a, double b) { return double(a == b); }},
      {"not_equal", [](double a, double b) { return double(a != b); }},
      {"less", [](double a, double b) { return double(a < b); }},
      {"less_equal", [](double a, double b) { return double(a <= b); }},
      {"greater", [](double a, double b) { return double(a > b); }},
      {"greater_equal", [](double a, double b) { return double(a >= b); }},
  };
  for (const BinaryCase &c : cases)
    for (proto::DType d : {proto::F32, proto::BF16, proto::I32}) {
      HostTensor a = isFloat(d) ? HostTensor::fromDoubles(d, {3, 4}, {}) : randomInts(d, {3, 4}, -2, 2);
      if (isFloat(d))
        a = HostTensor::fromDoubles(d, {3, 4}, randomInts(proto::I64, {12}, -2, 2).toDoubles());
      HostTensor b = HostTensor::fromDoubles(d, {4}, {-1, 0, 1, 2});
      HostTensor y = run1(c.op, {a, b}, tt(proto::I1, {3, 4}));
      ASSERT_EQ(y.dtype(), proto::I1);
      for (int64_t i = 0; i < 12; ++i)
        EXPECT_EQ(y.getDouble(i), c.ref(a.getDouble(i), b.getDouble(i % 4))) << c.op;
    }
}

TEST(Elementwise, LogicalAndSelect) {
  HostTensor p = ints(proto::I1, {4}, {0, 0, 1, 1});
  HostTensor q = ints(proto::I1, {4}, {0, 1, 0, 1});
  EXPECT_EQ(run1("logical_and", {p, q}, p.type()).toDoubles(), (std::vector<double>{0, 0, 0, 1}));
  EXPECT_EQ(run1("logical_or", {p, q}, p.type()).toDoubles(), (std::vector<double>{0, 1, 1, 1}));
  EXPECT_EQ(run1("logical_not", {p}, p.type()).toDoubles(), (std::vector<double>{1, 1, 0, 0}));

  for (proto::DType d : {proto::F32, proto::BF16, proto::I64}) {
    HostTensor c = randomInts(proto::I1, {3, 1}, 0, 1);
    HostTensor a = randomTensor(d, {3, 4});
    HostTensor b = randomTensor(d, {4});
    HostTensor y = run1("select", {c, a, b}, tt(d, {3, 4}));
    std::vector<double> ref;
    for (int64_t i = 0; i < 12; ++i)
      ref.push_back(c.getDouble(i / 4) ? a.getDouble(i) : b.getDouble(i % 4));
    expectClose(y, ref, "select", 0);
  }
}

TEST(Elementwise, Cast) {
  HostTensor x = HostTensor::fromDoubles(
      proto::F64, {8}, {1.5, -2.7, 1e10, -1e10, NAN, 0.0, 448.5, 1.0 + std::ldexp(1.0, -8) + 1e-12});
  EXPECT_EQ(run1("cast", {x}, tt(proto::I32, {8}), {{"to", attrType(proto::I32)}}).toDoubles(),
            (std::vector<double>{1, -2, 2147483647, -2147483648.0, 0, 0, 448, 1}));
  EXPECT_EQ(run1("cast", {x}, tt(proto::I4, {8}), {{"to", attrType(proto::I4)}}).toDoubles(),
            (std::vector<double>{1, -2, 7, -8, 0, 0, 7, 1}));
  std::vector<double> b = run1("cast", {x}, tt(proto::I1, {8}), {{"to", attrType(proto::I1)}}).toDoubles();
  EXPECT_EQ(b, (std::vector<double>{1, 1, 1, 1, 1, 0, 1, 1}));
  std::vector<double> f8 =
      run1("cast", {x}, tt(proto::F8E4M3FN, {8}), {{"to", attrType(proto::F8E4M3FN)}}).toDoubles();
  EXPECT_EQ(f8[2], 448);
  EXPECT_EQ(f8[3], -448);
  EXPECT_TRUE(std::isnan(f8[4]));
  // f64 -> bf16 rounds once: just above the tie goes up.
  std::vector<double> bf = run1("cast", {x}, tt(proto::BF16, {8}), {{"to", attrType(proto::BF16)}}).toDoubles();
  EXPECT_EQ(bf[7], 1.0 + std::ldexp(1.0, -7));
  HostTensor i = ints(proto::I64, {3}, {300, -129, 16777217});
  EXPECT_EQ(run1("cast", {i}, tt(proto::I8, {3}), {{"to", attrType(proto::I8)}}).toDoubles(),
            (std::vector<double>{44, 127, 1}));
  EXPECT_EQ(run1("cast", {i}, tt(proto::F32, {3}), {{"to", attrType(proto::F32)}}).toDoubles(),
            (std::vector<double>{300, -129, 16777216}));
  HostTensor r = randomTensor(proto::F32, {64}, -100, 100);
  for (proto::DType d : {proto::F16, proto::BF16, proto::F8E5M2, proto::F64}) {
    HostTensor y = run1("cast", {r}, tt(d, {64}), {{"to", attrType(d)}});
    expectClose(y, r.toDoubles(), "cast", 1);
  }
}

} // namespace
} // namespace kiln
