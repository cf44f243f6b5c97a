//===- ReasonerGraph.cpp - every entry kiln-train compiles for its policy --===//

#include "models/train/ReasonerGraph.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
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

/// The stacked expert weights of every MoE layer of `model`.
std::vector<State> expertStatesOf(const models::DeepseekV3Model &model,
                                  const models::DeepseekV3Config &policy) {
  std::vector<State> out;
  for (int64_t l = 0; l < policy.numHiddenLayers; ++l)
    if (const models::MoeLayer *moe = model.moe(l))
      for (const State &s : moe->expertStates())
        out.push_back(s);
  return out;
}

/// optim::clipByGlobalNorm(grads, 1.0), with the squares of the gradients
/// marked `sharded` (each rank's experts under kiln-expert-parallel) summed
/// over the `ranks` before the norm: every rank holds other experts'
/// gradients, and each must clip by the whole model's norm.
std::pair<std::vector<Tensor>, Tensor>
clipGradients(const std::vector<Tensor> &grads,
              const std::vector<bool> &sharded, int64_t ranks) {
  if (ranks == 1 ||
      std::find(sharded.begin(), sharded.end(), true) == sharded.end())
    return optim::clipByGlobalNorm(grads, 1.0);
  Tensor local, experts;
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor &g = grads[i];
    Axes all(g.rank());
    std::iota(all.begin(), all.end(), 0);
    Tensor s = sum(g * g, all);
    Tensor &into = sharded[i] ? experts : local;
    into = into.valid() ? into + s : s;
  }
  Tensor sumSq = allReduce(experts, "sum", ranks);
  if (local.valid())
    sumSq = local + sumSq;
  Tensor norm = sqrt(sumSq);
  Function &f = *norm.function();
  Tensor scale = minimum(
      div(scalar(f, 1.0, DType::f32), norm + scalar(f, 1e-6, DType::f32)), 1.0);
  std::vector<Tensor> clipped;
  for (const Tensor &g : grads)
    clipped.push_back(g * scale);
  return {clipped, norm};
}

} // namespace

absl::StatusOr<Graph> buildReasonerGraph(const TrainConfig &config,
                                         const ReasonerShapes &shapes) {
  absl::StatusOr<models::DeepseekV3Config> policyOr = policyConfig(config);
  if (!policyOr.ok())
    return policyOr.status();
  const models::DeepseekV3Config &policy = *policyOr;
  if (auto s = policy.validate(); !s.ok())
    return s;
  Graph graph("reasoner");
  models::DeepseekV3Model model(graph, policy, DType::f32, config.model().seed());
  std::vector<State> params = graph.states(StateKind::parameter);
  optim::AdamWOptions adamOptions;
  adamOptions.weightDecay = 0.0;
  optim::AdamW adam(graph, params, adamOptions);
  const int64_t S = shapes.seqLen;
  // Under expert parallelism each rank keeps its E/N experts of every MoE
  // layer with their AdamW moments (kiln-expert-parallel cuts every state
  // marked so); `sharded[i]` says whether params[i] is one of them.
  const int64_t expertRanks = shapes.expertParallel;
  std::vector<bool> sharded(params.size(), false);
  if (expertRanks > 1) {
    std::set<std::string> experts;
    for (const State &s : expertStatesOf(model, policy))
      experts.insert(s.name());
    for (size_t i = 0; i < params.size(); ++i) {
      // kiln-train's view of the shards finds them by name alone.
      if (experts.count(params[i].name()) != isStackedExpert(params[i].name()))
        return absl::InternalError(absl::StrCat(
            "parameter '", params[i].name(),
            "': its name and the model disagree on whether it is a stacked "
            "expert weight (isStackedExpert in "
            "models/train/ReasonerShapes.h)"));
      if (!experts.count(params[i].name()))
        continue;
      sharded[i] = true;
      for (const State &s : {params[i], adam.expAvg(i), adam.expAvgSq(i)})
        graph.shardOverExperts(s);
    }
  }
  auto clip = [&](const std::vector<Tensor> &grads) {
    return clipGradients(grads, sharded, expertRanks);
  };

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
    auto [clipped, norm] = clip(grad(loss, weights));
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
        // A sharded moment is a rank's experts: zeros of the shape it has
        // after kiln-expert-parallel, which an elementwise op keeps.
        f.update(s,
                 sharded[i] ? f.read(s) * 0.0 : zeros(f, s.shape(), s.dtype()));
    const State &step = adam.stepState();
    f.update(step, zeros(f, step.shape(), step.dtype()));
  }
  if (config.grpo().beta() > 0) {
    // The frozen reference of the k3 KL: a copy of every parameter under
    // "ref.<name>", of kind `other` so that neither AdamW nor anything that
    // walks the parameters touches it, while checkpoints still carry it.
    std::vector<State> refs;
    for (size_t i = 0; i < params.size(); ++i) {
      const State &p = params[i];
      refs.push_back(graph.state(referenceName(p.name()), p.shape(), p.dtype(),
                                 init::zeros(), StateKind::other));
      if (sharded[i])
        graph.shardOverExperts(refs.back());
    }
    {
      Function &f = graph.function("snapshot_reference");
      for (size_t i = 0; i < params.size(); ++i)
        f.update(refs[i], f.read(params[i]));
    }
    {
      // TRL's SyncRefModelCallback: ref = alpha * policy + (1 - alpha) * ref,
      // computed as its ref.mul_(1 - alpha).add_(policy, alpha=alpha).
      Function &f = graph.function("sync_reference");
      Tensor alpha = f.input("alpha", {}, DType::f32);
      Tensor keep = 1.0 - alpha;
      for (size_t i = 0; i < params.size(); ++i) {
        Tensor ref = f.read(refs[i]), policy = f.read(params[i]);
        Tensor a = alpha, k = keep;
        if (ref.dtype() != DType::f32) {
          a = cast(alpha, ref.dtype());
          k = cast(keep, ref.dtype());
        }
        f.update(refs[i], ref * k + policy * a);
      }
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
    const GrpoConfig &g = config.grpo();
    auto scale = models::parseScaleRewards(g.scale_rewards());
    if (!scale.ok())
      return scale.status();
    auto lossType = models::parseLossType(g.loss_type());
    if (!lossType.ok())
      return lossType.status();
    auto klEstimator = models::parseKlEstimator(g.kl_estimator());
    if (!klEstimator.ok())
      return klEstimator.status();
    auto level =
        models::parseImportanceSamplingLevel(g.importance_sampling_level());
    if (!level.ok())
      return level.status();
    models::GrpoLossOptions options;
    options.epsLow = g.epsilon_low();
    options.epsHigh = g.epsilon_high();
    // With the KL in the reward the host subtracts it before advantages.
    options.beta = g.kl_in_reward() ? 0.0 : g.beta();
    options.klEstimator = *klEstimator;
    options.importanceSamplingLevel = *level;
    options.entropyCoeff = g.entropy_coeff();
    options.lossType = *lossType;
    options.maxCompletionLength = g.max_new_tokens();
    const int64_t accumulation = g.gradient_accumulation_steps();

    // The loss over `rows` rows of one entry. Whole batches take rewards and
    // compute advantages (group-relative, as scaled by grpo.scale_rewards);
    // micro-batches take the whole batch's advantages and a loss_scale that
    // makes the mean of their gradients the whole batch's.
    struct StepLoss {
      models::GrpoLossOutputs out;
      Tensor loss, advantages, rowValid, lr;
      std::vector<Tensor> weights;
    };
    auto stepLoss = [&](Function &f, int64_t rows, bool micro, bool takesLr) {
      StepLoss step;
      Tensor tokens = f.input("tokens", {rows, S}, DType::i64);
      Tensor targets = f.input("targets", {rows, S}, DType::i64);
      Tensor mask = f.input("mask", {rows, S}, DType::f32);
      Tensor oldLogp = f.input("old_logp", {rows, S}, DType::f32);
      // row_valid marks rows that hold a real completion.
      if (micro) {
        step.advantages = f.input("advantages", {rows}, DType::f32);
        step.rowValid = f.input("row_valid", {rows}, DType::f32);
      } else {
        Tensor rewards = f.input("rewards", {rows}, DType::f32);
        step.rowValid = f.input("row_valid", {rows}, DType::f32);
        step.advantages =
            models::groupAdvantages(rewards, step.rowValid, g.group_size(),
                                    *scale, shapes.dataParallel);
      }
      Tensor lossScale;
      if (micro)
        lossScale = f.input("loss_scale", {}, DType::f32);
      if (takesLr)
        step.lr = f.input("lr", {}, DType::f32);
      step.weights = readAll(f, params);
      Tensor logits = rolloutLogits(model, f, tokens, config);
      models::GrpoLossInputs in;
      in.logp = tokenLogprobs(logits, targets);
      in.oldLogp = oldLogp;
      in.advantages = step.advantages;
      in.mask = mask;
      in.logits = logits;
      in.rowValid = step.rowValid;
      if (*lossType == models::LossType::dapo)
        in.totalTokens = f.input("total_tokens", {}, DType::f32);
      if (options.beta > 0)
        in.refLogp = f.input("ref_logp", {rows, S}, DType::f32);
      step.out = models::grpoLoss(in, options);
      step.loss = micro ? step.out.loss * lossScale : step.out.loss;
      const bool perRow = *lossType == models::LossType::grpo ||
                          *lossType == models::LossType::drGrpo;
      if (!micro && perRow && shapes.dataParallel > 1) {
        // grpo and dr_grpo divide by this rank's real rows, the batch's
        // mean by every rank's: kiln-data-parallel averages the ranks'
        // gradients, so each rank's loss is scaled by ranks * its rows over
        // all rows (an unfilled batch can leave the ranks uneven). Micro-
        // batches get that factor in their loss_scale from the host.
        const int64_t ranks = shapes.dataParallel;
        Tensor local = sum(step.rowValid, {0});
        Tensor all = allReduce(local, "sum", ranks);
        step.loss =
            step.loss * (maximum(local, 1.0) * static_cast<double>(ranks) /
                         maximum(all, 1.0));
      }
      return step;
    };
    auto outputs = [&](Function &f, const StepLoss &step,
                       std::optional<Tensor> gradNorm) {
      f.output("loss", step.loss);
      if (gradNorm)
        f.output("grad_norm", *gradNorm);
      f.output("advantage_abs_mean", sum(abs(step.advantages), {0}) /
                                         maximum(sum(step.rowValid, {0}), 1.0));
      for (auto &[name, value] : step.out.named())
        if (name != "loss")
          f.output(name, value);
    };
    {
      Function &f = graph.function("grpo_step");
      StepLoss step = stepLoss(f, shapes.grpoBatch, false, true);
      auto [clipped, norm] = clip(grad(step.loss, step.weights));
      adam.step(f, clipped, step.lr);
      outputs(f, step, norm);
    }
    if (accumulation > 1) {
      // Micro-batches: grpo_accumulate adds each one's gradient to a buffer;
      // grpo_micro_step adds the last, takes the mean, clips and steps.
      const int64_t micro = shapes.grpoBatch / accumulation;
      optim::GradAccumulator accumulator(graph, params);
      {
        Function &f = graph.function("grpo_advantages");
        Tensor rewards = f.input("rewards", {shapes.grpoBatch}, DType::f32);
        Tensor rowValid = f.input("row_valid", {shapes.grpoBatch}, DType::f32);
        f.output("advantages",
                 models::groupAdvantages(rewards, rowValid, g.group_size(),
                                         *scale, shapes.dataParallel));
      }
      {
        Function &f = graph.function("grpo_accumulate");
        StepLoss step = stepLoss(f, micro, true, false);
        accumulator.accumulate(f, grad(step.loss, step.weights));
        outputs(f, step, std::nullopt);
      }
      {
        Function &f = graph.function("grpo_micro_step");
        StepLoss step = stepLoss(f, micro, true, true);
        std::vector<Tensor> mean = accumulator.takeMean(
            f, accumulation, grad(step.loss, step.weights));
        auto [clipped, norm] = clip(mean);
        adam.step(f, clipped, step.lr);
        outputs(f, step, norm);
      }
    }
  }
  models::InferenceShape inference;
  inference.batch = shapes.grpoBatch;
  inference.promptLen = shapes.promptLen;
  inference.maxLen = S;
  inference.minP = true; // grpo.min_p, an input: any value reuses the entries
  if (auto s = models::addDeepseekInference(graph, model, inference); !s.ok())
    return s;
  if (auto s = graph.status(); !s.ok())
    return s;
  return graph;
}

} // namespace kiln::train
