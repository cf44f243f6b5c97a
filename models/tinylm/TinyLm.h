//===- TinyLm.h - a small decoder-only transformer language model -*- C++ -*-===//
//
// Pre-norm transformer blocks (RMSNorm, causal multi-head attention with rotary
// positions, SiLU-gated MLP) written in the frontend. It is the model the
// autodiff, optimizer and checkpoint machinery is proven on before the
// DeepSeek-V3 architecture arrives.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TINYLM_TINYLM_H
#define KILN_MODELS_TINYLM_TINYLM_H

#include <cstdint>
#include <vector>

#include "frontend/Kiln.h"

namespace kiln::models {

struct TinyLmConfig {
  int64_t vocab = 16;
  int64_t dim = 32;
  int64_t heads = 4;
  int64_t layers = 2;
  int64_t mlpHidden = 64;
  int64_t seqLen = 16;
  int64_t batch = 8;
  int64_t seed = 1;
  /// Recompute each block's activations in the backward pass.
  bool remat = false;
};

/// The model's parameters, created in a graph; calls build ops in a function.
class TinyLm {
public:
  TinyLm(Graph &graph, const TinyLmConfig &config);

  /// tokens [B, S] i64 -> logits [B, S, vocab] f32.
  Tensor logits(Function &fn, const Tensor &tokens) const;
  /// Mean next-token cross-entropy of `targets` [B, S] i64.
  Tensor loss(Function &fn, const Tensor &tokens, const Tensor &targets) const;
  /// Every parameter, in a fixed order.
  const std::vector<State> &parameters() const { return params; }

private:
  struct Block {
    nn::RMSNorm attnNorm, mlpNorm;
    nn::Linear wq, wk, wv, wo, gate, up, down;
  };
  Tensor block(Function &fn, const Block &b, const Tensor &x, const Tensor &cos,
               const Tensor &sin) const;

  Graph &graph;
  TinyLmConfig config;
  nn::Embedding embed;
  std::vector<Block> blocks;
  nn::RMSNorm finalNorm;
  nn::Linear head;
  std::vector<State> params;
};

} // namespace kiln::models

#endif // KILN_MODELS_TINYLM_TINYLM_H
