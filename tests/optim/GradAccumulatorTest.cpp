//===- GradAccumulatorTest.cpp - micro-batch sums, means and resets -------===//

#include "frontend/optim/GradAccumulator.h"

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using namespace testing;

TEST(GradAccumulator, MeanOfThreeMicroBatchesThenZeros) {
  const int64_t micro = 3;
  std::vector<Shape> shapes = {{3, 2}, {4}};
  std::vector<DType> dtypes = {DType::f32, DType::bf16};
  Graph graph("accum");
  std::vector<State> params = {
      graph.parameter("w", shapes[0], dtypes[0], init::ones()),
      graph.parameter("e", shapes[1], dtypes[1], init::ones())};
  GradAccumulator acc(graph, params);
  ASSERT_EQ(acc.buffers().size(), 2u);
  EXPECT_EQ(acc.buffers()[1].name(), "e.grad_accum");
  EXPECT_EQ(acc.buffers()[1].dtype(), DType::f32);
  EXPECT_EQ(acc.buffers()[1].kind(), StateKind::optimizer);

  auto inputs = [&](Function &f) {
    return std::vector<Tensor>{f.input("g0", shapes[0], dtypes[0]),
                               f.input("g1", shapes[1], dtypes[1])};
  };
  Function &micro1 = graph.function("micro");
  acc.accumulate(micro1, inputs(micro1));
  Function &mean = graph.function("mean");
  std::vector<Tensor> means = acc.takeMean(mean, micro);
  mean.output("m0", means[0]);
  mean.output("m1", means[1]);
  Function &last = graph.function("mean_last");
  std::vector<Tensor> lastMeans = acc.takeMean(last, micro, inputs(last));
  last.output("m0", lastMeans[0]);
  last.output("m1", lastMeans[1]);
  auto exe = load(graph);
  ASSERT_TRUE(exe);

  std::mt19937_64 rng(5);
  auto draw = [&](std::vector<std::vector<float>> &sum) {
    std::vector<HostTensor> ts;
    for (size_t i = 0; i < shapes.size(); ++i) {
      Sample s = randomTensor(rng, dtypes[i], shapes[i]);
      ts.push_back(s.tensor);
      for (size_t j = 0; j < s.values.size(); ++j)
        sum[i][j] += float(s.values[j]);
    }
    return ts;
  };
  auto zeroSums = [&] {
    return std::vector<std::vector<float>>{std::vector<float>(6, 0),
                                           std::vector<float>(4, 0)};
  };
  auto expectMeans = [&](const std::vector<HostTensor> &out,
                         const std::vector<std::vector<float>> &sum) {
    ASSERT_EQ(out.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      std::vector<float> expected;
      for (float s : sum[i])
        expected.push_back(s / float(micro));
      EXPECT_EQ(out[i].dtype(), proto::F32);
      expectClose(out[i].toDoubles(), expected, 1e-7,
                  "mean " + std::to_string(i));
    }
  };
  auto expectZeroBuffers = [&] {
    for (const char *name : {"w.grad_accum", "e.grad_accum"})
      for (double x : stateOf(*exe, name))
        EXPECT_EQ(x, 0.0) << name;
  };

  // Twice, to see the reset take effect.
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto sum = zeroSums();
    for (int64_t k = 0; k < micro; ++k)
      ASSERT_TRUE(exe->run("micro", draw(sum)).ok());
    expectClose(stateOf(*exe, "w.grad_accum"), sum[0], 1e-7, "w.grad_accum");
    auto out = exe->run("mean", {});
    ASSERT_TRUE(out.ok()) << out.status();
    expectMeans(*out, sum);
    expectZeroBuffers();
  }

  // The last micro-batch folded into the mean's entry.
  auto sum = zeroSums();
  for (int64_t k = 0; k + 1 < micro; ++k)
    ASSERT_TRUE(exe->run("micro", draw(sum)).ok());
  auto out = exe->run("mean_last", draw(sum));
  ASSERT_TRUE(out.ok()) << out.status();
  expectMeans(*out, sum);
  expectZeroBuffers();
}

} // namespace
} // namespace kiln::optim
