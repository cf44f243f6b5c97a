//===- Linear.h - y = x W^T + b with a Hugging Face weight layout -*- C++
//-*-===//
//
// The weight is state `<name>.weight` of shape [out, in] (and `<name>.bias`
// [out]), so checkpoints map one to one onto transformers' nn.Linear.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_NN_LINEAR_H
#define KILN_FRONTEND_NN_LINEAR_H

#include <optional>
#include <string>

#include "frontend/Graph.h"

namespace kiln::nn {

class Linear {
public:
  /// Initialised like PyTorch's nn.Linear: U(-1/sqrt(in), 1/sqrt(in)); the bias
  /// draws with seed + 1.
  Linear(Graph &graph, std::string name, int64_t in, int64_t out,
         bool bias = false, DType dtype = DType::f32, int64_t seed = 0,
         SourceLoc loc = SourceLoc::current());

  /// x [..., in] -> [..., out], reading the state into `fn`.
  Tensor operator()(Function &fn, const Tensor &x,
                    SourceLoc loc = SourceLoc::current()) const;
  /// The same in x's own function.
  Tensor operator()(const Tensor &x,
                    SourceLoc loc = SourceLoc::current()) const;

  const State &weight() const { return weightState; }
  const std::optional<State> &bias() const { return biasState; }
  int64_t inFeatures() const { return in; }
  int64_t outFeatures() const { return out; }

private:
  int64_t in, out;
  State weightState;
  std::optional<State> biasState;
};

} // namespace kiln::nn

#endif // KILN_FRONTEND_NN_LINEAR_H
