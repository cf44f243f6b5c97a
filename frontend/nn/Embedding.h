//===- Embedding.h - token id -> vector lookup table ------------*- C++ -*-===//
//
// State `<name>.weight` [vocab, dim], as transformers' nn.Embedding.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_NN_EMBEDDING_H
#define KILN_FRONTEND_NN_EMBEDDING_H

#include <string>

#include "frontend/Graph.h"

namespace kiln::nn {

class Embedding {
public:
  /// Initialised N(0, 1) like PyTorch's nn.Embedding.
  Embedding(Graph &graph, std::string name, int64_t vocab, int64_t dim,
            DType dtype = DType::f32, int64_t seed = 0,
            SourceLoc loc = SourceLoc::current());

  /// ids [...] (int) -> [..., dim], reading the table into `fn`.
  Tensor operator()(Function &fn, const Tensor &ids,
                    SourceLoc loc = SourceLoc::current()) const;
  Tensor operator()(const Tensor &ids,
                    SourceLoc loc = SourceLoc::current()) const;

  const State &weight() const { return weightState; }

private:
  State weightState;
};

} // namespace kiln::nn

#endif // KILN_FRONTEND_NN_EMBEDDING_H
