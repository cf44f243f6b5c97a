//===- ScheduleTest.cpp - warmup and cosine schedules against plain C++ ---===//

#include "frontend/optim/Schedule.h"
#include "frontend/optim/Sgd.h"

#include <numbers>

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using namespace testing;

double refWarmup(int64_t step, int64_t warmup, double peak) {
  if (warmup <= 0)
    return peak;
  return peak * double(std::min(step, warmup)) / double(warmup);
}

double refCosine(int64_t step, int64_t warmup, int64_t total, double peak,
                 double minLr) {
  if (step < warmup)
    return refWarmup(step, warmup, peak);
  double progress =
      double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  progress = std::min(progress, 1.0);
  return minLr +
         (peak - minLr) * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

void checkSchedules(int64_t warmup, int64_t total, DType stepDType) {
  const double peak = 3e-4, minLr = 3e-5;
  Graph graph("schedule");
  Function &f = graph.function("lr");
  Tensor step = f.input("step", {}, stepDType);
  f.output("warmup", linearWarmup(step, warmup, peak));
  f.output("cosine", cosineDecay(step, warmup, total, peak, minLr));
  auto exe = load(graph);
  ASSERT_TRUE(exe);
  int64_t mid = (warmup + total) / 2;
  for (int64_t s : {int64_t(0), int64_t(1), warmup - 1, warmup, warmup + 1, mid,
                    total - 1, total, total + 1, total + 500}) {
    if (s < 0)
      continue;
    SCOPED_TRACE("step " + std::to_string(s));
    auto out = exe->run("lr", {scalarTensor(stepDType, double(s))});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ((*out)[0].dtype(), proto::F32);
    EXPECT_NEAR((*out)[0].toDoubles()[0], refWarmup(s, warmup, peak),
                1e-6 * peak);
    EXPECT_NEAR((*out)[1].toDoubles()[0],
                refCosine(s, warmup, total, peak, minLr), 1e-6 * peak);
  }
}

TEST(Schedule, WarmupThenCosineOnAnI64Step) {
  checkSchedules(/*warmup=*/10, /*total=*/100, DType::i64);
}

TEST(Schedule, F32StepAndOddLengths) {
  checkSchedules(/*warmup=*/7, /*total=*/33, DType::f32);
}

TEST(Schedule, NoWarmup) {
  checkSchedules(/*warmup=*/0, /*total=*/20, DType::i64);
}

TEST(Schedule, EndpointsAreExact) {
  EXPECT_DOUBLE_EQ(refCosine(10, 10, 100, 1.0, 0.1), 1.0);
  EXPECT_NEAR(refCosine(100, 10, 100, 1.0, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(refCosine(1000, 10, 100, 1.0, 0.1), 0.1, 1e-12);
}

// The schedule reads the optimizer's own counter, so a training entry needs
// no per-step input: lr at the update numbered t (1-based) is schedule(t - 1).
TEST(Schedule, DrivesAnOptimizerFromItsStepCounter) {
  const int64_t warmup = 2, total = 6;
  const double peak = 0.5, minLr = 0.05;
  Graph graph("scheduled");
  State w = graph.parameter("w", {5}, DType::f32, init::normal(1, 3));
  SGD opt(graph, {w});
  Function &f = graph.function("train");
  Tensor lr = cosineDecay(f.read(opt.stepState()), warmup, total, peak, minLr);
  f.output("lr", lr);
  opt.step(f, {f.input("g", {5}, DType::f32)}, lr);
  auto exe = load(graph);
  ASSERT_TRUE(exe);
  std::vector<double> p = stateOf(*exe, "w");
  std::mt19937_64 rng(11);
  for (int64_t done = 0; done < total + 2; ++done) {
    Sample g = randomTensor(rng, DType::f32, {5});
    auto out = exe->run("train", {g.tensor});
    ASSERT_TRUE(out.ok()) << out.status();
    double lrRef = refCosine(done, warmup, total, peak, minLr);
    double lrGot = (*out)[0].toDoubles()[0];
    EXPECT_NEAR(lrGot, lrRef, 1e-6 * peak) << "step " << done;
    for (size_t i = 0; i < p.size(); ++i)
      p[i] = double(float(p[i]) - float(lrGot) * float(g.values[i]));
    expectClose(stateOf(*exe, "w"), p, 5e-7, "w");
  }
}

} // namespace
} // namespace kiln::optim
