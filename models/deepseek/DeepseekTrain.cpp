//===- DeepseekTrain.cpp - DeepSeek-V3 pretraining step as one entry ------===//

#include "models/deepseek/DeepseekTrain.h"

#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/ExpertModularity.h"
#include "models/deepseek/LoadBalancing.h"

namespace kiln::models {

namespace {

/// An expert stack with some experts frozen: AdamW runs on the trainable rows
/// only, with moments of those rows alone.
struct CompactStack {
  State param;
  std::vector<int64_t> rows; // trainable experts, ascending
  State expAvg, expAvgSq;
  std::optional<State> master; // full size, for low-precision params
};

struct Forward {
  Tensor loss, ce, balance;
  std::vector<MoeRoutingStats> routing;
};

absl::Status validate(const DeepseekTrainOptions &o) {
  const DeepseekV3Config &c = o.model;
  if (absl::Status s = c.validate(); !s.ok())
    return s;
  if (o.batch <= 0 || o.seqLen <= 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "batch and seqLen must be positive; got ", o.batch, " and ", o.seqLen));
  if (!(o.biasUpdateSpeed >= 0) || !(o.balanceLossWeight >= 0))
    return absl::InvalidArgumentError(absl::StrCat(
        "biasUpdateSpeed (", o.biasUpdateSpeed, ") and balanceLossWeight (",
        o.balanceLossWeight, ") must be >= 0"));
  for (auto [layer, expert] : o.frozenExperts) {
    if (layer < 0 || layer >= c.numHiddenLayers || !c.isMoeLayer(layer))
      return absl::InvalidArgumentError(
          absl::StrCat("frozen expert (", layer, ", ", expert, "): layer ",
                       layer, " is not a MoE layer"));
    if (expert < 0 || expert >= c.nRoutedExperts)
      return absl::InvalidArgumentError(
          absl::StrCat("frozen expert (", layer, ", ", expert,
                       "): expert out of [0, ", c.nRoutedExperts, ")"));
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<Graph> buildDeepseekTrainGraph(const DeepseekTrainOptions &o) {
  if (absl::Status s = validate(o); !s.ok())
    return s;
  const DeepseekV3Config &c = o.model;
  const int64_t b = o.batch, s = o.seqLen, e = c.nRoutedExperts;
  Graph graph("deepseek_train");
  DeepseekV3Model model(graph, c, o.dtype, o.seed);

  std::vector<int64_t> moeLayers;
  for (int64_t l = 0; l < c.numHiddenLayers; ++l)
    if (model.moe(l))
      moeLayers.push_back(l);

  // Partition the parameters: plain AdamW, compact stacks, or left out
  // (every expert of the stack frozen). The correction biases are not
  // parameters at all (StateKind::other), so no optimizer touches them.
  std::map<int64_t, std::set<int64_t>> frozenOf;
  for (auto [layer, expert] : o.frozenExperts)
    frozenOf[layer].insert(expert);
  std::map<std::string, int64_t> stackLayer;
  for (int64_t l : moeLayers)
    for (const State &st : model.moe(l)->expertStates())
      stackLayer[st.name()] = l;
  std::vector<State> adamParams;
  std::vector<CompactStack> compact;
  for (const State &p : graph.states(StateKind::parameter)) {
    auto it = stackLayer.find(p.name());
    const std::set<int64_t> *frozen = nullptr;
    if (it != stackLayer.end() && frozenOf.count(it->second))
      frozen = &frozenOf[it->second];
    if (!frozen) {
      adamParams.push_back(p);
      continue;
    }
    CompactStack stack{p, {}, {}, {}, std::nullopt};
    for (int64_t x = 0; x < e; ++x)
      if (!frozen->count(x))
        stack.rows.push_back(x);
    if (!stack.rows.empty())
      compact.push_back(std::move(stack));
  }
  optim::AdamW adam(graph, adamParams, o.adam);
  for (CompactStack &stack : compact) {
    Shape shape = stack.param.shape();
    shape[0] = static_cast<int64_t>(stack.rows.size());
    DType ud = optim::updateDType(stack.param.dtype());
    const std::string &name = stack.param.name();
    stack.expAvg = graph.state(name + ".exp_avg", shape, ud, init::zeros(),
                               StateKind::optimizer);
    stack.expAvgSq = graph.state(name + ".exp_avg_sq", shape, ud, init::zeros(),
                                 StateKind::optimizer);
    if (optim::needsMasterWeights(stack.param.dtype())) {
      stack.master = graph.state(name + ".master", stack.param.shape(), ud,
                                 init::zeros(), StateKind::optimizer);
      Function &init = graph.function(optim::kInitMasterEntry);
      init.update(*stack.master, cast(init.read(stack.param), ud));
    }
  }
  std::vector<State> optimized = adamParams;
  for (const CompactStack &stack : compact)
    optimized.push_back(stack.param);

  auto inputs = [&](Function &f) {
    return std::make_tuple(f.input("tokens", {b, s}, DType::i64),
                           f.input("targets", {b, s}, DType::i64),
                           f.input("mask", {b, s}, DType::f32));
  };
  auto forward = [&](Function &f, const Tensor &tokens, const Tensor &targets,
                     const Tensor &mask) {
    Forward fw;
    Tensor logits = model.head(f, model.hidden(f, tokens, fw.routing));
    Tensor ce = crossEntropy(logits, targets);
    if (ce.dtype() != DType::f32)
      ce = cast(ce, DType::f32);
    fw.ce = sum(ce * mask, {0, 1}) / maximum(sum(mask, {0, 1}), 1.0);
    fw.balance = scalar(f, 0.0, DType::f32);
    fw.loss = fw.ce;
    if (o.balanceLossWeight > 0) {
      for (const MoeRoutingStats &r : fw.routing)
        fw.balance = fw.balance + sequenceBalanceLoss(f, c, r, b, s);
      fw.balance = fw.balance * o.balanceLossWeight;
      fw.loss = fw.ce + fw.balance;
    }
    return fw;
  };
  auto outputLosses = [&](Function &f, const Forward &fw) {
    f.output("loss", fw.loss);
    f.output("ce_loss", fw.ce);
    f.output("balance_loss", fw.balance);
    for (size_t i = 0; i < moeLayers.size(); ++i)
      f.output(expertLoadName(moeLayers[i]), fw.routing[i].load);
  };
  auto rowMask = [&](Function &f, const CompactStack &stack) {
    std::vector<double> keep(e, 0.0);
    for (int64_t x : stack.rows)
      keep[x] = 1.0;
    Shape shape(stack.param.shape().size(), 1);
    shape[0] = e;
    return constant(f, keep, shape, DType::f32) > 0.5;
  };
  auto rowIndices = [&](Function &f, const CompactStack &stack) {
    std::vector<double> rows(stack.rows.begin(), stack.rows.end());
    return constant(f, rows, {static_cast<int64_t>(rows.size())}, DType::i64);
  };

  {
    Function &f = graph.function("train_step");
    auto [tokens, targets, mask] = inputs(f);
    std::vector<Tensor> params;
    for (const State &p : optimized)
      params.push_back(f.read(p));
    Forward fw = forward(f, tokens, targets, mask);
    std::vector<Tensor> grads = grad(fw.loss, params);
    // Frozen rows leave the gradient before clipping, so they neither move
    // nor count in the global norm.
    for (size_t i = 0; i < compact.size(); ++i) {
      Tensor &g = grads[adamParams.size() + i];
      g = gather(g, rowIndices(f, compact[i]), 0);
    }
    auto [clipped, norm] = optim::clipByGlobalNorm(grads, o.clipNorm);
    Tensor completed = f.read(adam.stepState());
    Tensor lr = optim::cosineDecay(completed, o.warmupSteps, o.totalSteps,
                                   o.peakLr, o.minLr);
    adam.step(f,
              std::vector<Tensor>(clipped.begin(),
                                  clipped.begin() + adamParams.size()),
              lr);

    if (!compact.empty()) {
      // torch's AdamW arithmetic, as optim::AdamW emits it, on the trainable
      // rows; the step count is the one AdamW advances (t = completed + 1).
      const optim::AdamWOptions &ao = o.adam;
      auto k64 = [&](double v) { return scalar(f, v, DType::f64); };
      Tensor t64 = cast(completed, DType::f64) + 1.0;
      Tensor lr64 = cast(lr, DType::f64);
      Tensor bias1 = k64(1) - pow(k64(ao.beta1), t64);
      Tensor bias2 = k64(1) - pow(k64(ao.beta2), t64);
      Tensor stepSize64 = lr64 / bias1, bias2Sqrt64 = sqrt(bias2);
      Tensor decay64 = k64(1) - lr64 * ao.weightDecay;
      for (size_t i = 0; i < compact.size(); ++i) {
        const CompactStack &stack = compact[i];
        DType ud = optim::updateDType(stack.param.dtype());
        auto round = [&](const Tensor &x) {
          return ud == DType::f64 ? x : cast(x, ud);
        };
        auto k = [&](double v) { return scalar(f, v, ud); };
        Tensor g = clipped[adamParams.size() + i];
        if (g.dtype() != ud)
          g = cast(g, ud);
        Tensor full =
            stack.master ? f.read(*stack.master) : f.read(stack.param);
        Tensor rows = rowIndices(f, stack);
        Tensor w = gather(full, rows, 0);
        if (ao.weightDecay != 0)
          w = w * round(decay64);
        Tensor m = f.read(stack.expAvg), v = f.read(stack.expAvgSq);
        m = m + (g - m) * k(1 - ao.beta1);
        v = v * k(ao.beta2) + (g * g) * k(1 - ao.beta2);
        Tensor denom = sqrt(v) / round(bias2Sqrt64) + k(ao.eps);
        w = w - round(stepSize64) * (m / denom);
        f.update(stack.expAvg, m);
        f.update(stack.expAvgSq, v);
        // Trainable rows take the new values, frozen rows keep their bits.
        Tensor keep = rowMask(f, stack);
        Tensor updated = select(
            keep, scatterAdd(zeros(f, full.shape(), ud), rows, w, 0), full);
        if (stack.master) {
          f.update(*stack.master, updated);
          f.update(stack.param, select(keep, cast(updated, stack.param.dtype()),
                                       f.read(stack.param)));
        } else {
          f.update(stack.param, updated);
        }
      }
    }

    // Aux-loss-free balancing: the load of this step steers the next one.
    if (o.biasUpdateSpeed > 0)
      for (size_t i = 0; i < moeLayers.size(); ++i) {
        const State &bias = model.moe(moeLayers[i])->correctionBias();
        f.update(bias, balancedBias(f, f.read(bias), fw.routing[i].load,
                                    o.biasUpdateSpeed));
      }
    outputLosses(f, fw);
    f.output("grad_norm", norm);
    f.output("lr", lr);
  }
  {
    Function &f = graph.function("eval_loss");
    auto [tokens, targets, mask] = inputs(f);
    Forward fw = forward(f, tokens, targets, mask);
    outputLosses(f, fw);
    for (size_t i = 0; i < moeLayers.size(); ++i) {
      std::string l = std::to_string(moeLayers[i]);
      f.output("router_scores." + l, fw.routing[i].scores);
      f.output("router_experts." + l, fw.routing[i].experts);
    }
  }
  {
    Function &f = graph.function("grads");
    auto [tokens, targets, mask] = inputs(f);
    std::vector<Tensor> params;
    for (const State &p : optimized)
      params.push_back(f.read(p));
    Forward fw = forward(f, tokens, targets, mask);
    f.output("loss", fw.loss);
    std::vector<Tensor> grads = grad(fw.loss, params);
    for (size_t i = 0; i < grads.size(); ++i) {
      Tensor g = grads[i];
      if (i >= adamParams.size()) {
        const CompactStack &stack = compact[i - adamParams.size()];
        g = select(rowMask(f, stack), g, zeros(f, g.shape(), g.dtype()));
      }
      f.output("grad." + optimized[i].name(), g);
    }
  }
  if (absl::Status st = graph.status(); !st.ok())
    return st;
  return graph;
}

} // namespace kiln::models
