//===- Sgd.h - torch.optim.SGD with momentum as graph code ------*- C++ -*-===//
//
// Declares the momentum buffers and step counter as optimizer state and emits
// one SGD update of every parameter into an entry function.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_SGD_H
#define KILN_FRONTEND_OPTIM_SGD_H

#include <string>
#include <vector>

#include "frontend/optim/Optimizer.h"

namespace kiln::optim {

struct SgdOptions {
  double momentum = 0, dampening = 0, weightDecay = 0;
  /// Needs momentum > 0 and dampening == 0, as in torch.
  bool nesterov = false;
  /// Two optimizers in one graph need distinct counters.
  std::string stepName = kStepStateName;
};

/// PyTorch's SGD (maximize=False), per parameter p with gradient g:
///   g += weightDecay * p                        (coupled decay)
///   buf = g on the first step, else momentum buf + (1 - dampening) g
///   g = nesterov ? g + momentum buf : buf       (when momentum != 0)
///   p -= lr g
/// State: `<p>.momentum_buffer` (f32; f64 for f64) when momentum != 0,
/// `<p>.master` for f16/bf16/f8 parameters (see kInitMasterEntry), and the i64
/// counter `optim.step`, which tells the first step apart.
class SGD : public Optimizer<SGD, SgdOptions> {
public:
  SGD(Graph &graph, std::vector<State> params, SgdOptions options = {},
      SourceLoc loc = SourceLoc::current());

  /// Emits the update into `f` (see AdamW::step for the contract).
  void step(Function &f, const std::vector<Tensor> &grads, const Tensor &lr,
            SourceLoc loc = SourceLoc::current());
  using Optimizer::step;

  /// Invalid when momentum is 0.
  const State &momentumBuffer(size_t i) const { return buffers[i]; }

private:
  std::vector<State> buffers;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_SGD_H
