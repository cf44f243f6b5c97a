//===- Clip.h - gradient clipping by the global L2 norm ---------*- C++ -*-===//
//
// torch.nn.utils.clip_grad_norm_ as graph code: one norm over all gradients,
// one scale applied to each.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_CLIP_H
#define KILN_FRONTEND_OPTIM_CLIP_H

#include <utility>
#include <vector>

#include "frontend/Tensor.h"

namespace kiln::optim {

/// norm = sqrt(sum of every squared element of every gradient), in f32;
/// scale = min(maxNorm / (norm + 1e-6), 1); each gradient times scale, in its
/// own dtype (the product is formed in f32, f64 for f64, and rounded once).
/// Returns the clipped gradients and the f32 scalar norm (before clipping).
/// All gradients must live in one function; an empty list gives an empty list
/// and an invalid norm.
std::pair<std::vector<Tensor>, Tensor>
clipByGlobalNorm(const std::vector<Tensor> &grads, double maxNorm,
                 SourceLoc loc = SourceLoc::current());

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_CLIP_H
