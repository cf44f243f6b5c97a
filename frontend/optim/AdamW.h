//===- AdamW.h - torch.optim.AdamW as graph code ----------------*- C++ -*-===//
//
// Declares the moments and step counter as optimizer state and emits one
// AdamW update of every parameter into an entry function.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_ADAMW_H
#define KILN_FRONTEND_OPTIM_ADAMW_H

#include <string>
#include <vector>

#include "frontend/optim/Optimizer.h"

namespace kiln::optim {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01;
  /// Two optimizers in one graph need distinct counters.
  std::string stepName = kStepStateName;
};

/// PyTorch's AdamW (amsgrad=False, maximize=False), per parameter p with
/// gradient g, at step t = 1, 2, ...:
///   p -= lr * weightDecay * p                 (decoupled, before Adam)
///   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
///   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// State per parameter: `<p>.exp_avg`, `<p>.exp_avg_sq` (f32; f64 for f64),
/// `<p>.master` for f16/bf16/f8 parameters (see kInitMasterEntry), and the
/// shared i64 counter `optim.step`, read and incremented inside step() so the
/// bias correction is computed in the graph.
class AdamW : public Optimizer<AdamW, AdamWOptions> {
public:
  AdamW(Graph &graph, std::vector<State> params, AdamWOptions options = {},
        SourceLoc loc = SourceLoc::current());

  /// Emits the update into `f`: one gradient per parameter (any float dtype,
  /// the parameter's shape); `lr` is a float scalar tensor of `f` (f32 as a
  /// rule). The scalars of the step (lr / (1 - beta1^t), ...) are computed in
  /// f64 as torch's Python floats are, then rounded once. Updates (donates)
  /// every parameter, moment, master and the counter, so call it at most once
  /// per entry.
  void step(Function &f, const std::vector<Tensor> &grads, const Tensor &lr,
            SourceLoc loc = SourceLoc::current());
  using Optimizer::step;

  const State &expAvg(size_t i) const { return expAvgs[i]; }
  const State &expAvgSq(size_t i) const { return expAvgSqs[i]; }

private:
  std::vector<State> expAvgs, expAvgSqs;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_ADAMW_H
