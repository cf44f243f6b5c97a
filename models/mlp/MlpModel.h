//===- MlpModel.h - the two-layer MLP example graph -------------*- C++ -*-===//
//
// The smallest complete model: Linear -> gelu -> Linear -> softmax cross-entropy,
// written in the frontend. It is the foundation's end-to-end example and test.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_MLP_MLPMODEL_H
#define KILN_MODELS_MLP_MLPMODEL_H

#include <cstdint>
#include <vector>

#include "frontend/Graph.h"

namespace kiln::models {

struct MlpConfig {
  int64_t batch = 16;
  int64_t inputs = 32;
  int64_t hidden = 64;
  int64_t classes = 10;
  int64_t seed = 1;
};

/// A graph with one entry point, "loss": inputs x [batch, inputs] f32 and labels
/// [batch] i64; outputs "logits" [batch, classes] and "loss" (mean cross-entropy).
/// State: fc1.weight [hidden, inputs], fc1.bias, fc2.weight, fc2.bias (Hugging
/// Face layout: weight is [out, in]).
Graph buildMlpGraph(const MlpConfig &config);

/// The "loss" graph plus a training entry "train_step": x, labels and lr (f32
/// scalar) -> "loss" before the update; AdamW (weight decay 0.01) updates the
/// four parameters and its moments in place. The data-parallel tests run it
/// on slices of one global batch.
Graph buildMlpTrainGraph(const MlpConfig &config);

/// The same computation in plain loops over doubles, for checking the compiled
/// graph. Weights are row-major in the graph's layout.
struct MlpReference {
  std::vector<double> logits;
  double loss = 0;
};
MlpReference mlpReference(const MlpConfig &config, const std::vector<double> &x,
                          const std::vector<int64_t> &labels,
                          const std::vector<double> &w1, const std::vector<double> &b1,
                          const std::vector<double> &w2, const std::vector<double> &b2);

} // namespace kiln::models

#endif // KILN_MODELS_MLP_MLPMODEL_H
