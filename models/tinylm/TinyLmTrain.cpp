//===- TinyLmTrain.cpp - the tiny LM's one compiled train step -------------===//

#include "models/tinylm/TinyLmTrain.h"

namespace kiln::models {

Graph buildTinyLmTrainGraph(const TinyLmTrainOptions &options) {
  const TinyLmConfig &c = options.model;
  Graph graph("tinylm");
  TinyLm model(graph, c);
  optim::AdamW adam(graph, model.parameters(), options.adam);

  auto inputs = [&](Function &f) {
    Tensor tokens = f.input("tokens", {c.batch, c.seqLen}, DType::i64);
    Tensor targets = f.input("targets", {c.batch, c.seqLen}, DType::i64);
    return std::make_pair(tokens, targets);
  };
  auto readParams = [&](Function &f) {
    std::vector<Tensor> params;
    for (const State &p : model.parameters())
      params.push_back(f.read(p));
    return params;
  };

  {
    Function &f = graph.function("train_step");
    auto [tokens, targets] = inputs(f);
    std::vector<Tensor> params = readParams(f);
    Tensor loss = model.loss(f, tokens, targets);
    auto [clipped, norm] =
        optim::clipByGlobalNorm(grad(loss, params), options.clipNorm);
    Tensor lr = optim::cosineDecay(f.read(adam.stepState()), options.warmupSteps,
                                   options.totalSteps, options.peakLr, options.minLr);
    adam.step(f, clipped, lr);
    f.output("loss", loss);
    f.output("grad_norm", norm);
    f.output("lr", lr);
  }
  {
    Function &f = graph.function("eval_loss");
    auto [tokens, targets] = inputs(f);
    f.output("loss", model.loss(f, tokens, targets));
  }
  {
    Function &f = graph.function("grads");
    auto [tokens, targets] = inputs(f);
    std::vector<Tensor> params = readParams(f);
    Tensor loss = model.loss(f, tokens, targets);
    f.output("loss", loss);
    std::vector<Tensor> grads = grad(loss, params);
    for (size_t i = 0; i < grads.size(); ++i)
      f.output("grad." + model.parameters()[i].name(), grads[i]);
  }
  return graph;
}

TokenBatch countingBatch(const TinyLmConfig &c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TokenBatch batch;
  for (int64_t b = 0; b < c.batch; ++b) {
    int64_t stride = 1 + static_cast<int64_t>(rng() % 3);
    int64_t token = static_cast<int64_t>(rng() % c.vocab);
    for (int64_t t = 0; t < c.seqLen; ++t) {
      batch.tokens.push_back(token);
      token = (token + stride) % c.vocab;
      batch.targets.push_back(token);
    }
  }
  return batch;
}

} // namespace kiln::models
