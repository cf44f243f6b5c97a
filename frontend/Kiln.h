//===- Kiln.h - everything model code needs to author kiln graphs -*- C++
//-*-===//
//
// The umbrella header of the frontend: graphs, tensors, ops and nn layers.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_KILN_H
#define KILN_FRONTEND_KILN_H

#include "frontend/Autodiff.h"
#include "frontend/Graph.h"
#include "frontend/Init.h"
#include "frontend/Ops.h"
#include "frontend/Tensor.h"
#include "frontend/nn/Embedding.h"
#include "frontend/nn/Linear.h"
#include "frontend/nn/RMSNorm.h"

#endif // KILN_FRONTEND_KILN_H
