//===- OptimTestUtil.h - compile a graph, feed it, compare to a reference -===//
//
// Shared by the optim tests: build -> compile -> executor, random inputs, and
// element-wise comparison with a tolerance relative to each tensor's scale.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_OPTIM_OPTIMTESTUTIL_H
#define KILN_TESTS_OPTIM_OPTIMTESTUTIL_H

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "executor/Executor.h"
#include "frontend/Kiln.h"
#include "tests/codegen/CompileTestUtil.h"
#include "gtest/gtest.h"

namespace kiln::optim::testing {

/// Builds, compiles and loads `graph`, with every state initialised.
inline std::unique_ptr<Executor> load(Graph &graph) {
  std::unique_ptr<Executor> executor = kiln::testing::compileGraph(graph);
  if (!executor)
    return nullptr;
  absl::Status init = executor->initializeState();
  EXPECT_TRUE(init.ok()) << init;
  return executor;
}

inline proto::DType toProto(DType dtype) {
  switch (dtype) {
  case DType::f64:
    return proto::F64;
  case DType::bf16:
    return proto::BF16;
  case DType::f16:
    return proto::F16;
  case DType::i64:
    return proto::I64;
  default:
    return proto::F32;
  }
}

inline int64_t count(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Normal(0, stddev) samples rounded to `dtype`, as the tensor and as the
/// (exact) doubles it holds.
struct Sample {
  HostTensor tensor;
  std::vector<double> values;
};
inline Sample randomTensor(std::mt19937_64 &rng, DType dtype, Shape shape,
                           double stddev = 1.0) {
  std::normal_distribution<double> normal(0.0, stddev);
  std::vector<double> v(count(shape));
  for (double &x : v)
    x = normal(rng);
  HostTensor t = HostTensor::fromDoubles(toProto(dtype), shape, v);
  return {t, t.toDoubles()};
}

inline HostTensor scalarTensor(DType dtype, double value) {
  return HostTensor::fromDoubles(toProto(dtype), {}, {value});
}

inline std::vector<double> stateOf(Executor &exe, const std::string &name) {
  auto t = exe.getState(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->toDoubles() : std::vector<double>();
}

/// The value `x` rounded to bf16 (round to nearest even).
inline double toBf16(double x) {
  return HostTensor::fromDoubles(proto::BF16, {}, {x}).toDoubles()[0];
}

/// |actual - expected| <= rtol * (|expected| + scale), scale being the largest
/// |expected| over the tensor: relative for the large entries, and no stricter
/// than f32 allows for the entries that come out of a cancellation.
template <typename T>
void expectClose(const std::vector<double> &actual,
                 const std::vector<T> &expected, double rtol,
                 const std::string &what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double scale = 0;
  for (T e : expected)
    scale = std::max(scale, std::abs(double(e)));
  for (size_t i = 0; i < actual.size(); ++i) {
    double e = double(expected[i]);
    EXPECT_NEAR(actual[i], e, rtol * (std::abs(e) + scale))
        << what << "[" << i << "]";
  }
}

} // namespace kiln::optim::testing

#endif // KILN_TESTS_OPTIM_OPTIMTESTUTIL_H
