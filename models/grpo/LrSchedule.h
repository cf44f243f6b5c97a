//===- LrSchedule.h - GRPO's learning rate per optimizer update -*- C++ -*-===//
//
// Host code: the learning rate of each GRPO update, fed to the compiled step
// as an input, with transformers' get_*_schedule_with_warmup conventions
// (the ones TRL and verl inherit), so a schedule named alike behaves alike.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_LRSCHEDULE_H
#define KILN_MODELS_GRPO_LRSCHEDULE_H

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::models {

enum class LrSchedule { constant, linear, cosine };
/// "constant", "linear", "cosine".
const char *lrScheduleName(LrSchedule schedule);
absl::StatusOr<LrSchedule> parseLrSchedule(std::string_view name);

struct LrScheduleOptions {
  LrSchedule schedule = LrSchedule::constant;
  double peakLr = 0;
  /// Linear warmup from 0: update s < warmupSteps has peakLr * s /
  /// warmupSteps, so the first update has lr 0, as in transformers.
  int64_t warmupSteps = 0;
  /// Updates in the whole run; linear reaches 0 and cosine minLrRatio *
  /// peakLr there.
  int64_t totalSteps = 0;
  /// cosine only: the floor as a fraction of peakLr (verl's min_lr_ratio).
  double minLrRatio = 0;
};

/// The learning rate of update `step` (0 for the first):
///   warmup:   peakLr * step / warmupSteps
///   constant: peakLr
///   linear:   peakLr * max(0, (total - step) / max(1, total - warmup))
///   cosine:   peakLr * (r + (1 - r) * (1 + cos(pi * p)) / 2), p =
///             min(1, (step - warmup) / max(1, total - warmup)), r = minLrRatio
double scheduledLearningRate(const LrScheduleOptions &options, int64_t step);

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_LRSCHEDULE_H
