//===- LrScheduleTest.cpp - GRPO's schedules against transformers' values -===//
//
// The values transformers' get_constant_schedule_with_warmup,
// get_linear_schedule_with_warmup and get_cosine_schedule_with_warmup give
// (LambdaLR factors times the peak), worked by hand for peak 1e-3, 2 warmup
// steps and 10 updates.
//
//===----------------------------------------------------------------------===//

#include <cmath>

#include "models/grpo/LrSchedule.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

LrScheduleOptions options(LrSchedule schedule, double minLrRatio = 0) {
  LrScheduleOptions o;
  o.schedule = schedule;
  o.peakLr = 1e-3;
  o.warmupSteps = 2;
  o.totalSteps = 10;
  o.minLrRatio = minLrRatio;
  return o;
}

TEST(LrSchedule, WarmupStartsAtZeroAsTransformersDoes) {
  for (LrSchedule s :
       {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine}) {
    EXPECT_DOUBLE_EQ(scheduledLearningRate(options(s), 0), 0.0);
    EXPECT_DOUBLE_EQ(scheduledLearningRate(options(s), 1), 5e-4);
    EXPECT_DOUBLE_EQ(scheduledLearningRate(options(s), 2), 1e-3);
  }
  LrScheduleOptions none = options(LrSchedule::constant);
  none.warmupSteps = 0;
  EXPECT_DOUBLE_EQ(scheduledLearningRate(none, 0), 1e-3);
}

TEST(LrSchedule, DecaysMatchHandComputedValues) {
  // linear: (10 - s) / 8.
  LrScheduleOptions linear = options(LrSchedule::linear);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(linear, 6), 5e-4);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(linear, 9), 1.25e-4);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(linear, 10), 0.0);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(linear, 12), 0.0);
  // cosine: (1 + cos(pi (s - 2) / 8)) / 2.
  LrScheduleOptions cosine = options(LrSchedule::cosine);
  EXPECT_NEAR(scheduledLearningRate(cosine, 4),
              1e-3 * 0.5 * (1 + std::sqrt(0.5)), 1e-15);
  EXPECT_NEAR(scheduledLearningRate(cosine, 6), 5e-4, 1e-15);
  EXPECT_NEAR(scheduledLearningRate(cosine, 10), 0.0, 1e-15);
  EXPECT_NEAR(scheduledLearningRate(options(LrSchedule::cosine, 0.1), 6),
              1e-4 + 9e-4 * 0.5, 1e-15);
  EXPECT_NEAR(scheduledLearningRate(options(LrSchedule::cosine, 0.1), 20), 1e-4,
              1e-15);
  EXPECT_DOUBLE_EQ(scheduledLearningRate(options(LrSchedule::constant), 9),
                   1e-3);
}

TEST(LrSchedule, NamesRoundTrip) {
  for (LrSchedule s :
       {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine})
    EXPECT_EQ(*parseLrSchedule(lrScheduleName(s)), s);
  auto bad = parseLrSchedule("step");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'step'"), std::string::npos);
}

} // namespace
} // namespace kiln::models
