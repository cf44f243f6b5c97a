//===- Autodiff.cpp - gradients and rematerialisation in the frontend ------===//

#include "frontend/Autodiff.h"

#include "frontend/GraphImpl.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

std::vector<Tensor> grad(const Tensor &loss, const std::vector<Tensor> &wrt,
                         SourceLoc loc) {
  if (wrt.empty())
    return {};
  std::vector<const Tensor *> operands{&loss};
  for (const Tensor &t : wrt)
    operands.push_back(&t);
  return buildOp<ir::GradOp>(operands, {}, loc, wrt.size());
}

ValueAndGrad valueAndGrad(const Tensor &loss, const std::vector<Tensor> &wrt,
                          SourceLoc loc) {
  return {loss, grad(loss, wrt, loc)};
}

Remat::Remat(Graph &graph) : graph(graph), previous(graph.impl->rematGroup) {
  graph.impl->rematGroup = graph.impl->nextRematGroup++;
}

Remat::~Remat() { graph.impl->rematGroup = previous; }

} // namespace kiln
