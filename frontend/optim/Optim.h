//===- Optim.h - all that training code needs to update weights -*- C++ -*-===//
//
// The umbrella header of frontend/optim: optimizers, clipping, schedules and
// gradient accumulation, all emitted as graph code over explicit state.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_OPTIM_H
#define KILN_FRONTEND_OPTIM_OPTIM_H

#include "frontend/optim/AdamW.h"
#include "frontend/optim/Clip.h"
#include "frontend/optim/GradAccumulator.h"
#include "frontend/optim/ParamGroup.h"
#include "frontend/optim/Schedule.h"
#include "frontend/optim/Sgd.h"

#endif // KILN_FRONTEND_OPTIM_OPTIM_H
