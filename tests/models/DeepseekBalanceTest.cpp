//===- DeepseekBalanceTest.cpp - DeepSeek-V3 MoE load balancing -----------===//
//
// The train step's aux-loss-free bias update (exactly +-gamma toward the mean
// load, never a gradient step), its load outputs, and the sequence-wise
// balance loss checked against a host computation and finite differences.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstring>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekTrain.h"
#include "models/deepseek/ExpertModularity.h"
#include "models/deepseek/LoadBalancing.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";

DeepseekTrainOptions fixtureOptions() {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  DeepseekTrainOptions o;
  o.model = c.ok() ? *c : DeepseekV3Config{};
  o.seed = 7;
  o.batch = 2;
  o.seqLen = 6;
  return o;
}

std::unique_ptr<Executor> start(const DeepseekTrainOptions &o) {
  auto graph = buildDeepseekTrainGraph(o);
  EXPECT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  EXPECT_TRUE((*executor)->initializeState().ok());
  return std::move(*executor);
}

std::map<std::string, HostTensor> batch(const DeepseekTrainOptions &o,
                                        uint64_t seed) {
  std::mt19937_64 rng(seed);
  HostTensor tokens(proto::I64, {o.batch, o.seqLen});
  HostTensor targets(proto::I64, {o.batch, o.seqLen});
  HostTensor mask(proto::F32, {o.batch, o.seqLen});
  for (int64_t i = 0; i < o.batch * o.seqLen; ++i) {
    tokens.setInt(i, static_cast<int64_t>(rng() % o.model.vocabSize));
    targets.setInt(i, static_cast<int64_t>(rng() % o.model.vocabSize));
    // The last position of each sequence is padding.
    mask.setDouble(i, (i + 1) % o.seqLen == 0 ? 0.0 : 1.0);
  }
  return {{"tokens", tokens}, {"targets", targets}, {"mask", mask}};
}

std::map<std::string, HostTensor>
run(Executor &executor, const std::string &entry,
    const std::map<std::string, HostTensor> &in) {
  auto out = executor.runNamed(entry, in);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::map<std::string, HostTensor>{};
}

std::vector<float> floats(const HostTensor &t) {
  std::vector<float> out(t.numElements());
  readAs(t, out.data());
  return out;
}

std::string biasName(int64_t layer) {
  return "model.layers." + std::to_string(layer) +
         ".mlp.gate.e_score_correction_bias";
}

std::vector<int64_t> moeLayers(const DeepseekV3Config &c) {
  std::vector<int64_t> out;
  for (int64_t l = 0; l < c.numHiddenLayers; ++l)
    if (c.isMoeLayer(l))
      out.push_back(l);
  return out;
}

TEST(DeepseekBalance, BiasStepsExactlyGammaTowardTheMeanLoad) {
  DeepseekTrainOptions o = fixtureOptions();
  o.biasUpdateSpeed = 0.01;
  auto executor = start(o);
  const DeepseekV3Config &c = o.model;
  // The bias is a buffer: AdamW holds no moments for it.
  for (const std::string &name : executor->stateNames())
    EXPECT_EQ(name.find("e_score_correction_bias."), std::string::npos) << name;

  const float gamma = static_cast<float>(o.biasUpdateSpeed);
  for (uint64_t step = 0; step < 3; ++step) {
    std::map<int64_t, std::vector<float>> before;
    for (int64_t l : moeLayers(c))
      before[l] = floats(*executor->getState(biasName(l)));
    auto out = run(*executor, "train_step", batch(o, 100 + step));
    for (int64_t l : moeLayers(c)) {
      std::vector<float> load = floats(out.at(expertLoadName(l)));
      ASSERT_EQ(static_cast<int64_t>(load.size()), c.nRoutedExperts);
      double total = 0;
      for (float x : load)
        total += x;
      EXPECT_EQ(total, o.batch * o.seqLen * c.numExpertsPerTok) << l;
      float meanLoad = static_cast<float>(total / c.nRoutedExperts);
      std::vector<float> after = floats(*executor->getState(biasName(l)));
      int moved = 0;
      for (int64_t e = 0; e < c.nRoutedExperts; ++e) {
        float want = before[l][e];
        if (load[e] > meanLoad)
          want = before[l][e] + -1.0f * gamma; // overloaded: bias down
        else if (load[e] < meanLoad)
          want = before[l][e] + 1.0f * gamma; // underloaded: bias up
        EXPECT_EQ(after[e], want) << "step " << step << " layer " << l
                                  << " expert " << e << " load " << load[e];
        moved += after[e] != before[l][e];
      }
      EXPECT_GT(moved, 0);
    }
  }
}

TEST(DeepseekBalance, GammaZeroLeavesTheBiasAndTheBiasTakesNoGradient) {
  DeepseekTrainOptions o = fixtureOptions();
  o.biasUpdateSpeed = 0;
  auto executor = start(o);
  // Give the bias non-zero values: a gradient or weight decay would move them.
  for (int64_t l : moeLayers(o.model)) {
    HostTensor bias(proto::F32, {o.model.nRoutedExperts});
    for (int64_t e = 0; e < o.model.nRoutedExperts; ++e)
      bias.setDouble(e, 0.01 * (e - 3));
    ASSERT_TRUE(executor->setState(biasName(l), bias).ok());
  }
  auto biasBefore = *executor->getState(biasName(1));
  auto gateBefore = *executor->getState("model.layers.1.mlp.gate.weight");
  for (uint64_t step = 0; step < 2; ++step)
    run(*executor, "train_step", batch(o, 200 + step));
  auto biasAfter = *executor->getState(biasName(1));
  auto gateAfter = *executor->getState("model.layers.1.mlp.gate.weight");
  EXPECT_EQ(
      std::memcmp(biasBefore.data(), biasAfter.data(), biasBefore.byteSize()),
      0);
  EXPECT_NE(
      std::memcmp(gateBefore.data(), gateAfter.data(), gateBefore.byteSize()),
      0);
  auto grads = run(*executor, "grads", batch(o, 300));
  EXPECT_EQ(grads.count("grad." + biasName(1)), 0u);
  EXPECT_EQ(grads.count("grad.model.layers.1.mlp.gate.weight"), 1u);
}

TEST(DeepseekBalance, BiasAloneBalancesTheLoad) {
  // With lr 0 only the bias changes; on a fixed batch it must spread the load.
  DeepseekTrainOptions o = fixtureOptions();
  o.peakLr = o.minLr = 0;
  o.adam.weightDecay = 0;
  o.biasUpdateSpeed = 0.02;
  o.seqLen = 16;
  auto executor = start(o);
  auto in = batch(o, 400);
  auto spread = [&](const std::map<std::string, HostTensor> &out) {
    double worst = 0;
    for (int64_t l : moeLayers(o.model)) {
      std::vector<float> load = floats(out.at(expertLoadName(l)));
      double mean = o.batch * o.seqLen * o.model.numExpertsPerTok /
                    static_cast<double>(o.model.nRoutedExperts);
      double dev = 0;
      for (float x : load)
        dev += std::abs(x - mean);
      worst = std::max(worst, dev);
    }
    return worst;
  };
  double first = spread(run(*executor, "train_step", in));
  double best = first;
  for (int step = 0; step < 40; ++step)
    best = std::min(best, spread(run(*executor, "train_step", in)));
  std::printf("load deviation: %.1f at start, %.1f best after 40 bias steps\n",
              first, best);
  EXPECT_LT(best, first);
}

/// alpha * mean_b sum_i f_i P_i summed over MoE layers, from the routing.
double hostBalanceLoss(const DeepseekTrainOptions &o,
                       const std::map<std::string, HostTensor> &eval) {
  const DeepseekV3Config &c = o.model;
  int64_t e = c.nRoutedExperts, k = c.numExpertsPerTok;
  double total = 0;
  for (int64_t l : moeLayers(c)) {
    std::string suffix = "." + std::to_string(l);
    std::vector<double> scores = eval.at("router_scores" + suffix).toDoubles();
    const HostTensor &experts = eval.at("router_experts" + suffix);
    double layer = 0;
    for (int64_t b = 0; b < o.batch; ++b) {
      std::vector<double> f(e, 0.0), p(e, 0.0);
      for (int64_t t = b * o.seqLen; t < (b + 1) * o.seqLen; ++t) {
        for (int64_t j = 0; j < k; ++j)
          f[experts.getInt(t * k + j)] += 1.0;
        double norm = 0;
        for (int64_t i = 0; i < e; ++i)
          norm += scores[t * e + i];
        for (int64_t i = 0; i < e; ++i)
          p[i] += scores[t * e + i] / norm / o.seqLen;
      }
      for (int64_t i = 0; i < e; ++i)
        layer += static_cast<double>(e) / (k * o.seqLen) * f[i] * p[i];
    }
    total += layer / o.batch;
  }
  return o.balanceLossWeight * total;
}

TEST(DeepseekBalance, SequenceBalanceLossByHand) {
  // E = 4, k = 2, one sequence of two tokens. Token 0 picks {0, 1} with equal
  // scores (s' = 1/4 each); token 1 picks {0, 2} with scores .8 .2 .6 .4
  // (s' = .4 .1 .3 .2). f = E/(kS) * counts = [2, 1, 1, 0];
  // P = [.325, .175, .275, .225]; sum f P = .65 + .175 + .275 = 1.1.
  DeepseekV3Config c;
  c.nRoutedExperts = 4;
  c.numExpertsPerTok = 2;
  Graph graph("balance_by_hand");
  Function &f = graph.function("balance");
  MoeRoutingStats r;
  r.experts = f.input("experts", {2, 2}, DType::i64);
  r.scores = f.input("scores", {2, 4}, DType::f32);
  f.output("loss", sequenceBalanceLoss(f, c, r, /*batch=*/1, /*seqLen=*/2));
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  auto out = (*executor)->run(
      "balance", {HostTensor::fromDoubles(proto::I64, {2, 2}, {0, 1, 0, 2}),
                  HostTensor::fromDoubles(proto::F32, {2, 4},
                                          {.5, .5, .5, .5, .8, .2, .6, .4})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR((*out)[0].toDoubles()[0], 1.1, 1e-6);
}

TEST(DeepseekBalance, SequenceBalanceLossIsExactlyAlphaTerm) {
  DeepseekTrainOptions plain = fixtureOptions();
  DeepseekTrainOptions balanced = plain;
  balanced.balanceLossWeight = 0.3;
  auto a = start(plain);
  auto b = start(balanced);
  auto in = batch(plain, 500);
  auto outPlain = run(*a, "eval_loss", in);
  auto outBal = run(*b, "eval_loss", in);
  double want = hostBalanceLoss(balanced, outBal);
  double lossPlain = outPlain.at("loss").toDoubles()[0];
  double lossBal = outBal.at("loss").toDoubles()[0];
  double term = outBal.at("balance_loss").toDoubles()[0];
  std::printf("L_bal host %.8f graph %.8f, loss %.8f -> %.8f\n", want, term,
              lossPlain, lossBal);
  EXPECT_GT(want, 0);
  EXPECT_NEAR(term, want, 1e-6 * want + 1e-7);
  EXPECT_NEAR(lossBal - lossPlain, want, 2e-6);
  EXPECT_EQ(outPlain.at("balance_loss").toDoubles()[0], 0.0);
  EXPECT_EQ(outPlain.at("ce_loss").toDoubles()[0],
            outBal.at("ce_loss").toDoubles()[0]);
  // A perfectly balanced router with uniform scores has f_i = 1, P_i = 1/E:
  // alpha per layer. A random one is of that order.
  EXPECT_LT(want,
            3 * balanced.balanceLossWeight * moeLayers(plain.model).size());
}

TEST(DeepseekBalance, SequenceBalanceLossGradientFlowsThroughScores) {
  DeepseekTrainOptions plain = fixtureOptions();
  DeepseekTrainOptions balanced = plain;
  balanced.balanceLossWeight = 1.0;
  auto a = start(plain);
  auto b = start(balanced);
  auto in = batch(plain, 600);
  const std::string gate = "model.layers.2.mlp.gate.weight";
  std::vector<double> gPlain =
      run(*a, "grads", in).at("grad." + gate).toDoubles();
  std::vector<double> gBal =
      run(*b, "grads", in).at("grad." + gate).toDoubles();
  // d L_bal / d gate = the difference of the two gradients.
  size_t pick = 0;
  double biggest = 0;
  for (size_t i = 0; i < gPlain.size(); ++i)
    if (std::abs(gBal[i] - gPlain[i]) > biggest) {
      biggest = std::abs(gBal[i] - gPlain[i]);
      pick = i;
    }
  ASSERT_GT(biggest, 1e-4) << "the balance loss added no gradient";
  // Central difference of the balance term alone.
  HostTensor w0 = *b->getState(gate);
  auto balanceAt = [&](double delta) {
    HostTensor w = w0.clone();
    w.setDouble(pick, w0.getDouble(pick) + delta);
    EXPECT_TRUE(b->setState(gate, w).ok());
    return run(*b, "eval_loss", in).at("balance_loss").toDoubles()[0];
  };
  const double h = 2e-3;
  double fd = (balanceAt(h) - balanceAt(-h)) / (2 * h);
  double analytic = gBal[pick] - gPlain[pick];
  std::printf("d L_bal / d %s[%zu]: analytic %.6f, finite difference %.6f\n",
              gate.c_str(), pick, analytic, fd);
  EXPECT_NEAR(fd, analytic, 0.03 * std::abs(analytic) + 1e-4);
}

} // namespace
} // namespace kiln::models
