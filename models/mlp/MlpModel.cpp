//===- MlpModel.cpp - the two-layer MLP example graph ----------------------===//

#include "models/mlp/MlpModel.h"

#include <cmath>

#include "frontend/Kiln.h"
#include "frontend/optim/AdamW.h"

namespace kiln::models {

namespace {

struct MlpLayers {
  MlpLayers(Graph &graph, const MlpConfig &config)
      : fc1(graph, "fc1", config.inputs, config.hidden, /*bias=*/true,
            DType::f32, config.seed),
        fc2(graph, "fc2", config.hidden, config.classes, /*bias=*/true,
            DType::f32, config.seed + 1) {}
  nn::Linear fc1, fc2;
};

/// Logits and mean cross-entropy of one batch, read from the inputs of `f`.
std::pair<Tensor, Tensor> mlpLoss(Function &f, MlpLayers &layers,
                                  const MlpConfig &config) {
  Tensor x = f.input("x", {config.batch, config.inputs}, DType::f32);
  Tensor labels = f.input("labels", {config.batch}, DType::i64);
  Tensor logits = layers.fc2(f, gelu(layers.fc1(f, x)));
  return {logits, mean(crossEntropy(logits, labels), {0})};
}

} // namespace

namespace {

/// The "loss" entry, and with `train` the "train_step" entry too.
Graph buildMlp(const MlpConfig &config, bool train) {
  Graph graph("mlp");
  MlpLayers layers(graph, config);
  Function &f = graph.function("loss");
  auto [logits, loss] = mlpLoss(f, layers, config);
  f.output("logits", logits);
  f.output("loss", loss);
  if (!train)
    return graph;
  std::vector<State> params = {layers.fc1.weight(), *layers.fc1.bias(),
                               layers.fc2.weight(), *layers.fc2.bias()};
  optim::AdamW adam(graph, params);
  Function &step = graph.function("train_step");
  Tensor stepLoss = mlpLoss(step, layers, config).second;
  Tensor lr = step.input("lr", {}, DType::f32);
  std::vector<Tensor> reads;
  for (const State &p : params)
    reads.push_back(step.read(p));
  adam.step(step, grad(stepLoss, reads), lr);
  step.output("loss", stepLoss);
  return graph;
}

} // namespace

Graph buildMlpGraph(const MlpConfig &config) { return buildMlp(config, false); }

Graph buildMlpTrainGraph(const MlpConfig &config) {
  return buildMlp(config, true);
}

MlpReference mlpReference(const MlpConfig &c, const std::vector<double> &x,
                          const std::vector<int64_t> &labels,
                          const std::vector<double> &w1, const std::vector<double> &b1,
                          const std::vector<double> &w2, const std::vector<double> &b2) {
  MlpReference out;
  out.logits.assign(c.batch * c.classes, 0.0);
  std::vector<double> h(c.hidden);
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t j = 0; j < c.hidden; ++j) {
      double acc = b1[j];
      for (int64_t i = 0; i < c.inputs; ++i)
        acc += x[b * c.inputs + i] * w1[j * c.inputs + i];
      h[j] = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
    }
    double maxLogit = -INFINITY;
    for (int64_t k = 0; k < c.classes; ++k) {
      double acc = b2[k];
      for (int64_t j = 0; j < c.hidden; ++j)
        acc += h[j] * w2[k * c.hidden + j];
      out.logits[b * c.classes + k] = acc;
      maxLogit = std::max(maxLogit, acc);
    }
    double sum = 0;
    for (int64_t k = 0; k < c.classes; ++k)
      sum += std::exp(out.logits[b * c.classes + k] - maxLogit);
    double logZ = maxLogit + std::log(sum);
    out.loss += (logZ - out.logits[b * c.classes + labels[b]]) / c.batch;
  }
  return out;
}

} // namespace kiln::models
