//===- ReasonerGraph.cpp - every entry kiln-train compiles for its policy --===//

#include "models/train/ReasonerGraph.h"

#include "frontend/Kiln.h"
#include "frontend/optim/Optim.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/grpo/GroupAdvantages.h"
#include "models/grpo/GrpoLoss.h"
#include "models/tokenizer/ByteTokenizer.h"
#include "models/train/PolicyConfig.h"

namespace kiln::train {

std::string referenceName(const std::string &parameter) {
  return "ref." + parameter;
}

namespace {

/// The policy's logits as GRPO's rollouts sampled from them: divided by
/// grpo.temperature (TRL's convention), so the ratio, the KL and the entropy
/// describe the sampling distribution. A greedy (0) temperature leaves them.
Tensor rolloutLogits(const models::DeepseekV3Model &model, Function &f,
                     const Tensor &tokens, const TrainConfig &config) {
  Tensor logits = model.logits(f, tokens);
  double temperature = config.grpo().temperature();
  if (temperature > 0 && temperature != 1)
    logits = logits / temperature;
  return logits;
}

/// Log-probability of each target under the tempered policy, [B, S].
Tensor targetLogprobs(const models::DeepseekV3Model &model, Function &f,
                      const Tensor &tokens, const Tensor &targets,
                      const TrainConfig &config) {
  return tokenLogprobs(rolloutLogits(model, f, tokens, config), targets);
}

std::vector<Tensor> readAll(Function &f, const std::vector<State> &states) {
  std::vector<Tensor> out;
  for (const State &s : states)
    out.push_back(f.read(s));
  return out;
}

} // namespace

absl::StatusOr<Graph> buildReasonerGraph(const TrainConfig &config,
                                         const ReasonerShapes &shapes) {
  models::DeepseekV3Config policy = policyConfig(config);
  if (auto s = policy.validate(); !s.ok())
    return s;
  Graph graph("reasoner");
  models::DeepseekV3Model model(graph, policy, DType::f32, config.model().seed());
  std::vector<State> params = graph.states(StateKind::parameter);
  optim::AdamWOptions adamOptions;
  adamOptions.weightDecay = 0.0;
  optim::AdamW adam(graph, params, adamOptions);
  const int64_t S = shapes.seqLen;

  {
    Function &f = graph.function("sft_step");
    const int64_t B = shapes.sftBatch;
    Tensor tokens = f.input("tokens", {B, S}, DType::i64);
    Tensor targets = f.input("targets", {B, S}, DType::i64);
    Tensor mask = f.input("mask", {B, S}, DType::f32);
    Tensor lr = f.input("lr", {}, DType::f32);
    std::vector<Tensor> weights = readAll(f, params);
    // The demonstrations' likelihood: untempered.
    Tensor logp = tokenLogprobs(model.logits(f, tokens), targets);
    Tensor tokensHere = sum(mask, {0, 1});
    Tensor loss;
    if (shapes.dataParallel > 1) {
      // The mean over every rank's tokens: kiln-data-parallel averages the
      // ranks' losses, so each divides its sum by the global count and
      // scales by the rank count.
      const int64_t ranks = shapes.dataParallel;
      Tensor count = maximum(allReduce(tokensHere, "sum", ranks), 1.0);
      loss = -sum(logp * mask, {0, 1}) * static_cast<double>(ranks) / count;
    } else {
      loss = -sum(logp * mask, {0, 1}) / maximum(tokensHere, 1.0);
    }
    auto [clipped, norm] = optim::clipByGlobalNorm(grad(loss, weights), 1.0);
    adam.step(f, clipped, lr);
    f.output("loss", loss);
    f.output("grad_norm", norm);
  }
  {
    Function &f = graph.function("logprobs");
    const int64_t B = shapes.grpoBatch;
    Tensor tokens = f.input("tokens", {B, S}, DType::i64);
    Tensor targets = f.input("targets", {B, S}, DType::i64);
    f.output("logp", targetLogprobs(model, f, tokens, targets, config));
  }
  {
    // GRPO starts from fresh AdamW moments and step count, as a new TRL or
    // verl run does: SFT's moments would scale the first GRPO updates by
    // another objective's gradient history.
    Function &f = graph.function("reset_optimizer");
    for (size_t i = 0; i < params.size(); ++i)
      for (const State &s : {adam.expAvg(i), adam.expAvgSq(i)})
        f.update(s, zeros(f, s.shape(), s.dtype()));
    const State &step = adam.stepState();
    f.update(step, zeros(f, step.shape(), step.dtype()));
  }
  if (config.grpo().beta() > 0) {
    // The frozen reference of the k3 KL: a copy of every parameter under
    // "ref.<name>", of kind `other` so that neither AdamW nor anything that
    // walks the parameters touches it, while checkpoints still carry it.
    std::vector<State> refs;
    for (const State &p : params)
      refs.push_back(graph.state(referenceName(p.name()), p.shape(), p.dtype(),
                                 init::zeros(), StateKind::other));
    {
      Function &f = graph.function("snapshot_reference");
      for (size_t i = 0; i < params.size(); ++i)
        f.update(refs[i], f.read(params[i]));
    }
    {
      // The policy's own forward, with each parameter replaced by its copy:
      // one model definition serves both, and this entry never reads the
      // parameters.
      Function &f = graph.function("ref_logprobs");
      const int64_t B = shapes.grpoBatch;
      Tensor tokens = f.input("tokens", {B, S}, DType::i64);
      Tensor targets = f.input("targets", {B, S}, DType::i64);
      for (size_t i = 0; i < params.size(); ++i)
        f.substitute(params[i], f.read(refs[i]));
      f.output("logp", targetLogprobs(model, f, tokens, targets, config));
    }
  }
  {
    Function &f = graph.function("grpo_step");
    const GrpoConfig &g = config.grpo();
    const int64_t B = shapes.grpoBatch;
    Tensor tokens = f.input("tokens", {B, S}, DType::i64);
    Tensor targets = f.input("targets", {B, S}, DType::i64);
    Tensor mask = f.input("mask", {B, S}, DType::f32);
    Tensor oldLogp = f.input("old_logp", {B, S}, DType::f32);
    // Rewards in, advantages computed in the graph (group-relative, as scaled by
    // grpo.scale_rewards); row_valid marks rows that hold a real completion.
    Tensor rewards = f.input("rewards", {B}, DType::f32);
    Tensor rowValid = f.input("row_valid", {B}, DType::f32);
    auto scale = models::parseScaleRewards(g.scale_rewards());
    if (!scale.ok())
      return scale.status();
    Tensor advantages = models::groupAdvantages(rewards, rowValid, g.group_size(), *scale);
    Tensor lr = f.input("lr", {}, DType::f32);
    std::vector<Tensor> weights = readAll(f, params);
    Tensor logits = rolloutLogits(model, f, tokens, config);
    models::GrpoLossInputs in;
    in.logp = tokenLogprobs(logits, targets);
    in.oldLogp = oldLogp;
    in.advantages = advantages;
    in.mask = mask;
    in.logits = logits;
    in.rowValid = rowValid;
    auto lossType = models::parseLossType(g.loss_type());
    if (!lossType.ok())
      return lossType.status();
    if (*lossType == models::LossType::dapo)
      in.totalTokens = f.input("total_tokens", {}, DType::f32);
    if (g.beta() > 0)
      in.refLogp = f.input("ref_logp", {B, S}, DType::f32);
    models::GrpoLossOptions options;
    options.epsLow = g.epsilon_low();
    options.epsHigh = g.epsilon_high();
    options.beta = g.beta();
    auto klEstimator = models::parseKlEstimator(g.kl_estimator());
    if (!klEstimator.ok())
      return klEstimator.status();
    options.klEstimator = *klEstimator;
    options.lossType = *lossType;
    options.maxCompletionLength = g.max_new_tokens();
    models::GrpoLossOutputs out = models::grpoLoss(in, options);
    auto [clipped, norm] = optim::clipByGlobalNorm(grad(out.loss, weights), 1.0);
    adam.step(f, clipped, lr);
    f.output("loss", out.loss);
    f.output("grad_norm", norm);
    f.output("advantage_abs_mean", sum(abs(advantages), {0}) / maximum(sum(rowValid, {0}), 1.0));
    for (auto &[name, value] : out.named())
      if (name != "loss")
        f.output(name, value);
  }
  models::InferenceShape inference;
  inference.batch = shapes.grpoBatch;
  inference.promptLen = shapes.promptLen;
  inference.maxLen = S;
  if (auto s = models::addDeepseekInference(graph, model, inference); !s.ok())
    return s;
  if (auto s = graph.status(); !s.ok())
    return s;
  return graph;
}

} // namespace kiln::train
