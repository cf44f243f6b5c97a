//===- MlpModel.cpp - the two-layer MLP example graph ----------------------===//

#include "models/mlp/MlpModel.h"

#include <cmath>

#include "frontend/Kiln.h"

namespace kiln::models {

Graph buildMlpGraph(const MlpConfig &config) {
  Graph graph("mlp");
  nn::Linear fc1(graph, "fc1", config.inputs, config.hidden, /*bias=*/true,
                 DType::f32, config.seed);
  nn::Linear fc2(graph, "fc2", config.hidden, config.classes, /*bias=*/true,
                 DType::f32, config.seed + 1);

  Function &f = graph.function("loss");
  Tensor x = f.input("x", {config.batch, config.inputs}, DType::f32);
  Tensor labels = f.input("labels", {config.batch}, DType::i64);
  Tensor logits = fc2(f, gelu(fc1(f, x)));
  Tensor loss = mean(crossEntropy(logits, labels), {0});
  f.output("logits", logits);
  f.output("loss", loss);
  return graph;
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
