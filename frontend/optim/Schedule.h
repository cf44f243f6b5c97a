//===- Schedule.h - learning-rate schedules of a step tensor ----*- C++ -*-===//
//
// The learning rate as graph code of the step counter, so a compiled training
// entry needs no host-side schedule and no per-step input.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_SCHEDULE_H
#define KILN_FRONTEND_OPTIM_SCHEDULE_H

#include <cstdint>

#include "frontend/Tensor.h"

namespace kiln::optim {

// `step` is the number of optimizer steps completed (the value of
// `optim.step` read before the update, 0 for the first update), of any int or
// float dtype and any shape; the result is f32 of its shape. The conventions
// are transformers' get_*_schedule_with_warmup (LambdaLR): the warmup is
// peakLr * step / warmupSteps, so the first update has lr 0 and step
// warmupSteps reaches peakLr.

/// peakLr * min(step, warmupSteps) / warmupSteps; peakLr when warmupSteps <= 0.
Tensor linearWarmup(const Tensor &step, int64_t warmupSteps, double peakLr,
                    SourceLoc loc = SourceLoc::current());

/// linearWarmup up to warmupSteps, then
///   minLr + (peakLr - minLr) * (1 + cos(pi * progress)) / 2,
///   progress = min((step - warmupSteps) / max(1, totalSteps - warmupSteps), 1)
/// so it reaches minLr at totalSteps and holds there.
Tensor cosineDecay(const Tensor &step, int64_t warmupSteps, int64_t totalSteps,
                   double peakLr, double minLr,
                   SourceLoc loc = SourceLoc::current());

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_SCHEDULE_H
