//===- RMSNorm.cpp - the RMSNorm layer
//-------------------------------------===//

#include "frontend/nn/RMSNorm.h"

#include "frontend/Ops.h"

namespace kiln::nn {

RMSNorm::RMSNorm(Graph &graph, std::string name, int64_t dim, double eps,
                 DType dtype, SourceLoc loc)
    : epsilon(eps) {
  weightState =
      graph.parameter(name + ".weight", {dim}, dtype, init::ones(), loc);
}

Tensor RMSNorm::operator()(Function &fn, const Tensor &x, SourceLoc loc) const {
  return rmsNorm(x, fn.read(weightState, loc), epsilon, loc);
}

Tensor RMSNorm::operator()(const Tensor &x, SourceLoc loc) const {
  Function *fn = x.function();
  return fn ? (*this)(*fn, x, loc) : x;
}

} // namespace kiln::nn
