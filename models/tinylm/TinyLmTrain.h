//===- TinyLmTrain.h - the tiny LM's one compiled train step ----*- C++ -*-===//
//
// Forward, backward (kiln::grad), global-norm clipping, a warmup+cosine learning
// rate and AdamW, all in one entry point whose parameters and optimizer state
// are donated state updated in place by the executor.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TINYLM_TINYLMTRAIN_H
#define KILN_MODELS_TINYLM_TINYLMTRAIN_H

#include <random>

#include "frontend/optim/Optim.h"
#include "models/tinylm/TinyLm.h"

namespace kiln::models {

struct TinyLmTrainOptions {
  TinyLmConfig model;
  optim::AdamWOptions adam;
  double peakLr = 1e-2;
  double minLr = 1e-3;
  int64_t warmupSteps = 5;
  int64_t totalSteps = 200;
  double clipNorm = 1.0;
};

/// Entries: "train_step" (tokens, targets [B, S] i64 -> loss, grad_norm, lr),
/// "eval_loss" (tokens, targets -> loss) and "grads" (tokens, targets -> loss
/// and every parameter's gradient, unclipped; for tests and tools).
Graph buildTinyLmTrainGraph(const TinyLmTrainOptions &options);

/// A synthetic next-token task with a known answer: each sequence counts up by a
/// per-sequence stride modulo the vocabulary from a random start, so the model
/// must read the stride from context. Deterministic in `seed`.
struct TokenBatch {
  std::vector<int64_t> tokens, targets;
};
TokenBatch countingBatch(const TinyLmConfig &config, uint64_t seed);

} // namespace kiln::models

#endif // KILN_MODELS_TINYLM_TINYLMTRAIN_H
