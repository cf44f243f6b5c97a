//===- RMSNorm.h - root-mean-square normalisation with a learned scale -*- C++
//-*-===//
//
// State `<name>.weight` [dim], initialised to ones (transformers' LlamaRMSNorm
// / DeepseekV3RMSNorm); the forward is one kiln.rms_norm.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_NN_RMSNORM_H
#define KILN_FRONTEND_NN_RMSNORM_H

#include <string>

#include "frontend/Graph.h"

namespace kiln::nn {

class RMSNorm {
public:
  RMSNorm(Graph &graph, std::string name, int64_t dim, double eps = 1e-6,
          DType dtype = DType::f32, SourceLoc loc = SourceLoc::current());

  /// x [..., dim] -> same shape, reading the weight into `fn`.
  Tensor operator()(Function &fn, const Tensor &x,
                    SourceLoc loc = SourceLoc::current()) const;
  Tensor operator()(const Tensor &x,
                    SourceLoc loc = SourceLoc::current()) const;

  const State &weight() const { return weightState; }
  double eps() const { return epsilon; }

private:
  State weightState;
  double epsilon;
};

} // namespace kiln::nn

#endif // KILN_FRONTEND_NN_RMSNORM_H
