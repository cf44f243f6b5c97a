//===- GroupAdvantages.h - GRPO advantages as a graph computation -*- C++ -*-===//
//
// The group-relative advantage of each completion, computed inside the compiled
// GRPO step from the raw rewards (the host reference is Advantages.h; the two
// are tested to agree): r minus its group's mean, scaled per group, per batch or
// not at all (Dr. GRPO), with zero for groups whose rewards are all equal.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_GRPO_GROUPADVANTAGES_H
#define KILN_MODELS_GRPO_GROUPADVANTAGES_H

#include "frontend/Kiln.h"
#include "models/grpo/Advantages.h"

namespace kiln::models {

/// rewards, valid: [B] f32 with B a multiple of `groupSize`, group-major (row
/// p*G + k is completion k of prompt p). `valid` is 1 for rows that hold a real
/// completion and 0 for padding rows (which get advantage 0 and stay out of the
/// batch statistics). Returns [B] f32. With `ranks` > 1 the rows are one
/// data-parallel rank's share of the batch (whole groups): the batch scale's
/// mean and std are of every rank's rows (all_reduce).
Tensor groupAdvantages(const Tensor &rewards, const Tensor &valid,
                       int64_t groupSize, ScaleRewards scale, int64_t ranks = 1,
                       SourceLoc loc = SourceLoc::current());

} // namespace kiln::models

#endif // KILN_MODELS_GRPO_GROUPADVANTAGES_H
