//===- Clip.cpp - clipByGlobalNorm ----------------------------------------===//

#include "frontend/optim/Clip.h"

#include <numeric>

#include "frontend/Ops.h"
#include "frontend/optim/ParamGroup.h"

namespace kiln::optim {

std::pair<std::vector<Tensor>, Tensor>
clipByGlobalNorm(const std::vector<Tensor> &grads, double maxNorm,
                 SourceLoc loc) {
  if (grads.empty())
    return {};
  Tensor sumSq;
  for (const Tensor &g : grads) {
    Tensor g32 = g.dtype() == DType::f32 ? g : cast(g, DType::f32, loc);
    Axes all(g.valid() ? g.rank() : 0);
    std::iota(all.begin(), all.end(), 0);
    Tensor s = sum(mul(g32, g32, loc), all, /*keepdims=*/false, loc);
    sumSq = sumSq.valid() ? add(sumSq, s, loc) : s;
  }
  Tensor norm = sqrt(sumSq, loc);
  Function *f = norm.function();
  if (!f)
    return {grads, norm};
  auto k = [&](double v) { return scalar(*f, v, DType::f32, loc); };
  Tensor scale =
      minimum(div(k(maxNorm), add(norm, k(1e-6), loc), loc), 1.0, loc);

  std::vector<Tensor> clipped;
  for (const Tensor &g : grads) {
    DType dtype = updateDType(g.dtype());
    Tensor gd = g.dtype() == dtype ? g : cast(g, dtype, loc);
    Tensor sd = dtype == DType::f32 ? scale : cast(scale, dtype, loc);
    Tensor c = mul(gd, sd, loc);
    clipped.push_back(c.dtype() == g.dtype() ? c : cast(c, g.dtype(), loc));
  }
  return {clipped, norm};
}

} // namespace kiln::optim
