//===- Linear.cpp - the nn.Linear layer
//------------------------------------===//

#include "frontend/nn/Linear.h"

#include <cmath>

#include "frontend/Ops.h"

namespace kiln::nn {

Linear::Linear(Graph &graph, std::string name, int64_t in, int64_t out,
               bool bias, DType dtype, int64_t seed, SourceLoc loc)
    : in(in), out(out) {
  double bound = in > 0 ? 1.0 / std::sqrt(double(in)) : 0.0;
  weightState = graph.parameter(name + ".weight", {out, in}, dtype,
                                init::uniform(-bound, bound, seed), loc);
  if (bias)
    biasState = graph.parameter(name + ".bias", {out}, dtype,
                                init::uniform(-bound, bound, seed + 1), loc);
}

Tensor Linear::operator()(Function &fn, const Tensor &x, SourceLoc loc) const {
  Tensor w = fn.read(weightState, loc);
  // matmul wants rank >= 2; a rank-2 weight broadcasts over x's leading dims.
  bool vector = x.valid() && x.rank() == 1;
  Tensor lhs = vector ? reshape(x, {1, -1}, loc) : x;
  Tensor y = matmul(lhs, w, /*transposeA=*/false, /*transposeB=*/true, loc);
  if (vector)
    y = reshape(y, {out}, loc);
  if (biasState)
    y = add(y, fn.read(*biasState, loc), loc);
  return y;
}

Tensor Linear::operator()(const Tensor &x, SourceLoc loc) const {
  Function *fn = x.function();
  return fn ? (*this)(*fn, x, loc) : x;
}

} // namespace kiln::nn
