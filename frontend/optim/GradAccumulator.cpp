//===- GradAccumulator.cpp - sums of micro-batch gradients ----------------===//

#include "frontend/optim/GradAccumulator.h"

#include <string>

#include "frontend/Ops.h"
#include "frontend/optim/ParamGroup.h"

namespace kiln::optim {

GradAccumulator::GradAccumulator(Graph &graph, const std::vector<State> &params,
                                 SourceLoc loc)
    : paramStates(params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const State &p = params[i];
    if (!p.valid()) {
      detail::fail(graph,
                   "GradAccumulator: parameter " + std::to_string(i) +
                       " is an invalid State",
                   loc);
      bufferStates.emplace_back();
      continue;
    }
    bufferStates.push_back(graph.state(p.name() + ".grad_accum", p.shape(),
                                       updateDType(p.dtype()), init::zeros(),
                                       StateKind::optimizer, loc));
  }
}

/// False (with the error recorded) unless there is one gradient of the
/// buffer's shape per buffer.
static bool checkGrads(Function &f, const std::vector<State> &buffers,
                       const std::vector<Tensor> &grads, SourceLoc loc) {
  if (grads.size() != buffers.size()) {
    detail::fail(f,
                 "GradAccumulator: " + std::to_string(grads.size()) +
                     " gradients for " + std::to_string(buffers.size()) +
                     " parameters",
                 loc);
    return false;
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].valid())
      return false;
    if (grads[i].shape() != buffers[i].shape()) {
      detail::fail(f,
                   "GradAccumulator: the gradient for '" + buffers[i].name() +
                       "' has another shape than the buffer",
                   loc);
      return false;
    }
  }
  return true;
}

/// buffer i plus grad, in the buffer's dtype.
static Tensor addGrad(Function &f, const State &buffer, const Tensor &grad,
                      SourceLoc loc) {
  Tensor g =
      grad.dtype() == buffer.dtype() ? grad : cast(grad, buffer.dtype(), loc);
  return add(f.read(buffer, loc), g, loc);
}

void GradAccumulator::accumulate(Function &f, const std::vector<Tensor> &grads,
                                 SourceLoc loc) {
  if (!checkGrads(f, bufferStates, grads, loc))
    return;
  for (size_t i = 0; i < grads.size(); ++i)
    f.update(bufferStates[i], addGrad(f, bufferStates[i], grads[i], loc), loc);
}

/// The mean of each sum, with every buffer reset to zeros.
static std::vector<Tensor> meanAndReset(Function &f,
                                        const std::vector<State> &buffers,
                                        std::vector<Tensor> sums,
                                        int64_t microBatches, SourceLoc loc) {
  std::vector<Tensor> means;
  for (size_t i = 0; i < buffers.size(); ++i) {
    DType dtype = buffers[i].dtype();
    means.push_back(
        div(sums[i], scalar(f, double(microBatches), dtype, loc), loc));
    f.update(buffers[i], zeros(f, buffers[i].shape(), dtype, loc), loc);
  }
  return means;
}

std::vector<Tensor> GradAccumulator::takeMean(Function &f, int64_t microBatches,
                                              SourceLoc loc) {
  if (microBatches <= 0) {
    detail::fail(f,
                 "GradAccumulator::takeMean: microBatches is " +
                     std::to_string(microBatches) + ", not positive",
                 loc);
    return std::vector<Tensor>(bufferStates.size());
  }
  std::vector<Tensor> sums;
  for (const State &b : bufferStates)
    sums.push_back(f.read(b, loc));
  return meanAndReset(f, bufferStates, std::move(sums), microBatches, loc);
}

std::vector<Tensor>
GradAccumulator::takeMean(Function &f, int64_t microBatches,
                          const std::vector<Tensor> &lastGrads, SourceLoc loc) {
  if (microBatches <= 0) {
    detail::fail(f,
                 "GradAccumulator::takeMean: microBatches is " +
                     std::to_string(microBatches) + ", not positive",
                 loc);
    return std::vector<Tensor>(bufferStates.size());
  }
  if (!checkGrads(f, bufferStates, lastGrads, loc))
    return std::vector<Tensor>(bufferStates.size());
  std::vector<Tensor> sums;
  for (size_t i = 0; i < bufferStates.size(); ++i)
    sums.push_back(addGrad(f, bufferStates[i], lastGrads[i], loc));
  return meanAndReset(f, bufferStates, std::move(sums), microBatches, loc);
}

} // namespace kiln::optim
