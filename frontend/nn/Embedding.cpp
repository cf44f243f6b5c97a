//===- Embedding.cpp - the nn.Embedding layer
//------------------------------===//

#include "frontend/nn/Embedding.h"

#include "frontend/Ops.h"

namespace kiln::nn {

Embedding::Embedding(Graph &graph, std::string name, int64_t vocab, int64_t dim,
                     DType dtype, int64_t seed, SourceLoc loc) {
  weightState = graph.parameter(name + ".weight", {vocab, dim}, dtype,
                                init::normal(1.0, seed), loc);
}

Tensor Embedding::operator()(Function &fn, const Tensor &ids,
                             SourceLoc loc) const {
  return gather(fn.read(weightState, loc), ids, /*axis=*/0, loc);
}

Tensor Embedding::operator()(const Tensor &ids, SourceLoc loc) const {
  Function *fn = ids.function();
  return fn ? (*this)(*fn, ids, loc) : ids;
}

} // namespace kiln::nn
