//===- LrSchedule.cpp - GRPO's learning rate per optimizer update ---------===//

#include "models/grpo/LrSchedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::models {

const char *lrScheduleName(LrSchedule schedule) {
  switch (schedule) {
  case LrSchedule::constant:
    return "constant";
  case LrSchedule::linear:
    return "linear";
  case LrSchedule::cosine:
    return "cosine";
  }
  return "?";
}

absl::StatusOr<LrSchedule> parseLrSchedule(std::string_view name) {
  for (LrSchedule s :
       {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine})
    if (name == lrScheduleName(s))
      return s;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown learning-rate schedule '", std::string(name),
                   "' (expected constant, linear or cosine)"));
}

double scheduledLearningRate(const LrScheduleOptions &o, int64_t step) {
  if (step < o.warmupSteps)
    return o.peakLr * static_cast<double>(step) /
           static_cast<double>(std::max<int64_t>(o.warmupSteps, 1));
  double span =
      static_cast<double>(std::max<int64_t>(o.totalSteps - o.warmupSteps, 1));
  switch (o.schedule) {
  case LrSchedule::constant:
    return o.peakLr;
  case LrSchedule::linear:
    return o.peakLr *
           std::max(0.0, static_cast<double>(o.totalSteps - step) / span);
  case LrSchedule::cosine: {
    double progress =
        std::min(1.0, static_cast<double>(step - o.warmupSteps) / span);
    return o.peakLr * (o.minLrRatio + (1 - o.minLrRatio) * 0.5 *
                                          (1 + std::cos(M_PI * progress)));
  }
  }
  return o.peakLr;
}

} // namespace kiln::models
