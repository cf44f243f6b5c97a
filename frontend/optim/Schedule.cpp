//===- Schedule.cpp - linear warmup and cosine decay ----------------------===//

#include "frontend/optim/Schedule.h"

#include <algorithm>
#include <numbers>

#include "frontend/Ops.h"

namespace kiln::optim {

namespace {
Tensor asF32(const Tensor &step, SourceLoc loc) {
  return step.dtype() == DType::f32 ? step : cast(step, DType::f32, loc);
}
} // namespace

Tensor linearWarmup(const Tensor &step, int64_t warmupSteps, double peakLr,
                    SourceLoc loc) {
  Tensor s = asF32(step, loc);
  if (!s.valid())
    return s;
  if (warmupSteps <= 0)
    return full(*s.function(), s.shape(), peakLr, DType::f32, loc);
  // The fraction first, so that step warmupSteps gives peakLr exactly.
  Tensor frac =
      div(minimum(s, double(warmupSteps), loc),
          scalar(*s.function(), double(warmupSteps), DType::f32, loc), loc);
  return mul(frac, scalar(*s.function(), peakLr, DType::f32, loc), loc);
}

Tensor cosineDecay(const Tensor &step, int64_t warmupSteps, int64_t totalSteps,
                   double peakLr, double minLr, SourceLoc loc) {
  Tensor s = asF32(step, loc);
  if (!s.valid())
    return s;
  Function &f = *s.function();
  auto k = [&](double v) { return scalar(f, v, DType::f32, loc); };
  double decaySteps = double(std::max<int64_t>(1, totalSteps - warmupSteps));
  Tensor progress =
      div(sub(s, k(double(warmupSteps)), loc), k(decaySteps), loc);
  progress = minimum(maximum(progress, 0.0, loc), 1.0, loc);
  Tensor wave =
      mul(add(cos(mul(progress, k(std::numbers::pi), loc), loc), k(1), loc),
          k(0.5), loc);
  Tensor cosine = add(k(minLr), mul(k(peakLr - minLr), wave, loc), loc);
  if (warmupSteps <= 0)
    return cosine;
  return select(less(s, k(double(warmupSteps)), loc),
                linearWarmup(s, warmupSteps, peakLr, loc), cosine, loc);
}

} // namespace kiln::optim
