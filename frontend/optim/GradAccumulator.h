//===- GradAccumulator.h - gradient sums over micro-batches -----*- C++ -*-===//
//
// f32 buffers `<param>.grad_accum` that entries add gradients into, and a
// read that returns their mean and zeroes them, for gradient accumulation.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_GRADACCUMULATOR_H
#define KILN_FRONTEND_OPTIM_GRADACCUMULATOR_H

#include <vector>

#include "frontend/Graph.h"

namespace kiln::optim {

/// One buffer per parameter, StateKind::optimizer, init zeros, f32 (f64 for
/// f64 parameters). A training loop runs an entry with accumulate() for each
/// micro-batch and an entry with takeMean() (usually followed by an
/// optimizer step) once per optimizer step; or folds the last micro-batch
/// into the takeMean() entry with the three-argument form. Each of these
/// updates every buffer, so an entry holds at most one of them.
class GradAccumulator {
public:
  GradAccumulator(Graph &graph, const std::vector<State> &params,
                  SourceLoc loc = SourceLoc::current());

  /// buffer += cast(grad) for every parameter.
  void accumulate(Function &f, const std::vector<Tensor> &grads,
                  SourceLoc loc = SourceLoc::current());
  /// buffer / microBatches for every parameter (the buffer dtype), and the
  /// buffers set to zeros in the same entry.
  std::vector<Tensor> takeMean(Function &f, int64_t microBatches,
                               SourceLoc loc = SourceLoc::current());
  /// (buffer + cast(lastGrads)) / microBatches, the buffers zeroed: the last
  /// micro-batch (counted in microBatches) without a separate accumulate.
  std::vector<Tensor> takeMean(Function &f, int64_t microBatches,
                               const std::vector<Tensor> &lastGrads,
                               SourceLoc loc = SourceLoc::current());

  const std::vector<State> &buffers() const { return bufferStates; }

private:
  std::vector<State> paramStates;
  std::vector<State> bufferStates;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_GRADACCUMULATOR_H
