//===- GrpoOptionsTest.cpp - issue 15's GRPO options through kiln-train ---===//
//
// On a tiny policy after a short cold start: micro-batches with gradient
// accumulation give the full batch's update, mu updates per generation batch
// follow TRL's num_iterations, the reference syncs as TRL's callback does,
// the KL can go into the reward, several weighted reward functions and DAPO's
// overlong shaping add up in the logged reward, min_p reaches the rollouts
// and evaluation samples several completions for pass@k.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/train/ReasonerGraph.h"
#include "models/train/RewardFunctions.h"
#include "models/train/TrainConfig.h"
#include "models/train/Trainer.h"

#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace kiln::train {
namespace {

const char *kTiny =
    "model { hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 32 "
    "kv_lora_rank: 16 qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8 "
    "num_attention_heads: 2 } task { digits: 1 } "
    "sft { steps: 400 batch_size: 4 } "
    "grpo { prompts_per_step: 2 group_size: 4 max_new_tokens: 30 "
    "mask_truncated_completions: false learning_rate: 1e-3 } "
    "eval { problems: 6 } ";

TrainConfig tinyConfig(const std::string &overrides,
                       const std::string &outputDir = "") {
  std::string text = std::string(kTiny) + overrides;
  if (!outputDir.empty()) {
    std::filesystem::remove_all(::testing::TempDir() + "/" + outputDir);
    text += " output_dir: \"" + ::testing::TempDir() + "/" + outputDir + "\"";
  }
  auto config = parseTrainConfig(text, "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : TrainConfig();
}

ReasonerShapes tinyShapes(const TrainConfig &config) {
  auto sizes = Trainer::measure(config);
  EXPECT_TRUE(sizes.ok()) << sizes.status();
  return {std::max<int64_t>(sizes->second, sizes->first + 30), sizes->first, 4,
          8};
}

proto::Executable compileFor(const TrainConfig &config) {
  auto graph = buildReasonerGraph(config, tinyShapes(config));
  EXPECT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? *exe : proto::Executable();
}

/// The cold-started parameters (and the routers' load-balancing biases),
/// shared by the suite: GRPO from a policy that answers some one-digit sums
/// right when sampling, so groups carry a signal (and dynamic sampling, on by
/// default, keeps those that do).
std::map<std::string, HostTensor> *coldStart = nullptr;

std::unique_ptr<Executor> startedExecutor(const proto::Executable &exe) {
  auto executor = Executor::create(exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok())
    return nullptr;
  EXPECT_TRUE((*executor)->initializeState().ok());
  for (const auto &[name, value] : *coldStart)
    EXPECT_TRUE((*executor)->setState(name, value).ok()) << name;
  return std::move(*executor);
}

class GrpoOptions : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    TrainConfig config = tinyConfig("", "kiln-grpo-options-sft");
    proto::Executable exe = compileFor(config);
    auto executor = Executor::create(exe);
    ASSERT_TRUE(executor.ok()) << executor.status();
    ASSERT_TRUE((*executor)->initializeState().ok());
    TrainConfig sftOnly = config;
    auto trainer =
        Trainer::create(sftOnly, **executor, tinyShapes(config).seqLen,
                        tinyShapes(config).promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->runSft().ok());
    coldStart = new std::map<std::string, HostTensor>();
    for (const proto::StateEntry &state : exe.state())
      if (state.kind() == "parameter" ||
          state.name().find("e_score_correction_bias") != std::string::npos) {
        auto value = (*executor)->getState(state.name());
        ASSERT_TRUE(value.ok()) << state.name();
        (*coldStart)[state.name()] = *value;
      }
    ASSERT_TRUE(coldStart->count("lm_head.weight"));
  }
  static void TearDownTestSuite() {
    delete coldStart;
    coldStart = nullptr;
  }
  void SetUp() override {
    if (!coldStart)
      GTEST_SKIP() << "suite setup failed";
  }

  /// A GRPO run of `config` on `executor`; its metrics lines.
  static std::vector<nlohmann::json> grpo(const TrainConfig &config,
                                          Executor &executor) {
    ReasonerShapes shapes = tinyShapes(config);
    auto trainer =
        Trainer::create(config, executor, shapes.seqLen, shapes.promptLen);
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok())
      return {};
    absl::Status ran = (*trainer)->runGrpo();
    EXPECT_TRUE(ran.ok()) << ran;
    std::ifstream in(config.output_dir() + "/metrics.jsonl");
    std::vector<nlohmann::json> lines;
    std::string line;
    while (std::getline(in, line))
      lines.push_back(nlohmann::json::parse(line));
    return lines;
  }
};

double metric(const nlohmann::json &line, const std::string &name) {
  EXPECT_TRUE(line.contains(name)) << name << " not in " << line.dump();
  return line.contains(name) && line[name].is_number()
             ? line[name].get<double>()
             : NAN;
}

double optimizerStep(const Executor &executor) {
  auto step = executor.getState("optim.step");
  EXPECT_TRUE(step.ok()) << step.status();
  return step.ok() ? step->toDoubles()[0] : -1;
}

// Two micro-batches of four rows, their gradients accumulated, take the
// step one batch of eight takes: the same gradient norm, loss and metrics, and
// the same parameters after two updates (mu 2), within float tolerance.
TEST_F(GrpoOptions, MicroBatchesGiveTheFullBatchStep) {
  for (const char *lossType : {"dapo", "grpo"}) {
    SCOPED_TRACE(lossType);
    const std::string objective =
        std::string("grpo { steps: 1 mu: 2 beta: 0.05 loss_type: \"") +
        lossType + "\" ";
    TrainConfig micro = tinyConfig(
        objective + "gradient_accumulation_steps: 2 }", "kiln-grpo-micro");
    TrainConfig whole = tinyConfig(objective + "}", "kiln-grpo-whole");
    // One Executable serves both: grpo_step is built either way.
    proto::Executable exe = compileFor(micro);
    std::unique_ptr<Executor> a = startedExecutor(exe),
                              b = startedExecutor(exe);
    ASSERT_TRUE(a && b);
    std::vector<nlohmann::json> full = grpo(whole, *a), parts = grpo(micro, *b);
    ASSERT_EQ(full.size(), 1u);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_GT(metric(full[0], "grpo/advantage_abs_mean"), 0.1)
        << "no learning signal";
    EXPECT_EQ(optimizerStep(*a), 2);
    EXPECT_EQ(optimizerStep(*b), 2);
    for (const char *name :
         {"grpo/loss", "grpo/grad_norm", "grpo/kl", "grpo/entropy",
          "grpo/ratio_mean", "grpo/clip_ratio/region_mean",
          "grpo/advantage_abs_mean", "grpo/reward_mean"}) {
      double x = metric(full[0], name), y = metric(parts[0], name);
      EXPECT_NEAR(y, x, 1e-6 + 2e-5 * std::abs(x)) << name;
    }
    // The updates, compared as vectors: a few elements whose gradient is at
    // float noise may move differently under AdamW's normalisation.
    double diff = 0, moved = 0;
    for (const auto &[name, start] : *coldStart) {
      auto x = a->getState(name), y = b->getState(name);
      ASSERT_TRUE(x.ok() && y.ok()) << name;
      std::vector<double> p0 = start.toDoubles(), px = x->toDoubles(),
                          py = y->toDoubles();
      for (size_t i = 0; i < p0.size(); ++i) {
        diff += (px[i] - py[i]) * (px[i] - py[i]);
        moved += (px[i] - p0[i]) * (px[i] - p0[i]);
      }
    }
    EXPECT_GT(moved, 0);
    EXPECT_LT(std::sqrt(diff), 1e-3 * std::sqrt(moved));
    // The accumulation buffers are empty again after the step.
    for (const std::string &name : b->stateNames())
      if (name.size() > 11 && name.rfind(".grad_accum") == name.size() - 11) {
        auto buffer = b->getState(name);
        ASSERT_TRUE(buffer.ok()) << name;
        for (double v : buffer->toDoubles())
          ASSERT_EQ(v, 0.0) << name;
      }
  }
}

/// Rows [begin, begin + count) of `t`, whose first dimension is rows.
HostTensor rowsOf(const HostTensor &t, int64_t begin, int64_t count) {
  std::vector<int64_t> shape = t.shape();
  const int64_t rowBytes = t.byteSize() / shape[0];
  shape[0] = count;
  HostTensor out(t.dtype(), shape);
  std::memcpy(out.data(),
              static_cast<const char *>(t.data()) + begin * rowBytes,
              count * rowBytes);
  return out;
}

// An unfilled batch (dynamic sampling gave up): the first micro-batch holds
// three real rows, the second one. grpo and dr_grpo divide by the batch's
// real rows, so each micro-batch's loss must weigh its share of them
// (microBatchLossScale); a plain mean of the micro-batches' losses would
// weigh the lone row three times too much.
TEST_F(GrpoOptions, MicroBatchesOfAnUnfilledBatchWeighTheirRows) {
  EXPECT_EQ(microBatchLossScale("grpo", 2, 3, 4), 1.5);
  EXPECT_EQ(microBatchLossScale("dr_grpo", 2, 1, 4), 0.5);
  EXPECT_EQ(microBatchLossScale("dapo", 2, 1, 4), 1.0);
  EXPECT_EQ(microBatchLossScale("bnpo", 2, 1, 4), 1.0);
  EXPECT_EQ(microBatchLossScale("grpo", 2, 0, 0), 0.0);
  for (const char *lossType : {"grpo", "dr_grpo"}) {
    SCOPED_TRACE(lossType);
    TrainConfig config =
        tinyConfig(std::string("grpo { gradient_accumulation_steps: 2 "
                               "loss_type: \"") +
                   lossType + "\" }");
    proto::Executable exe = compileFor(config);
    const ReasonerShapes shapes = tinyShapes(config);
    const int64_t rows = shapes.grpoBatch, s = shapes.seqLen, half = rows / 2;
    std::vector<double> valid = {1, 1, 0, 1, 1, 0, 0, 0};
    std::vector<int64_t> tokens(rows * s), targets(rows * s);
    std::vector<double> mask(rows * s, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t t = 0; t < s; ++t) {
        tokens[r * s + t] = (r * 7 + t * 3) % 256;
        targets[r * s + t] = (r * 5 + t * 11 + 1) % 256;
        mask[r * s + t] = valid[r] && t >= 2 && t < 6 + r;
      }
    HostTensor tok(proto::I64, {rows, s}), tgt(proto::I64, {rows, s});
    std::memcpy(tok.data(), tokens.data(), tok.byteSize());
    std::memcpy(tgt.data(), targets.data(), tgt.byteSize());
    HostTensor m = HostTensor::fromDoubles(proto::F32, {rows, s}, mask);
    HostTensor rewards =
        HostTensor::fromDoubles(proto::F32, {rows}, {1, 0, 0, 0.5, 1, 0, 0, 0});
    HostTensor rowValid = HostTensor::fromDoubles(proto::F32, {rows}, valid);
    HostTensor lr = HostTensor::fromDoubles(proto::F32, {}, {1e-3});

    std::unique_ptr<Executor> whole = startedExecutor(exe);
    auto old = whole->run("logprobs", {tok, tgt});
    ASSERT_TRUE(old.ok()) << old.status();
    HostTensor oldLogp = (*old)[0];
    auto full = whole->runNamed("grpo_step", {{"tokens", tok},
                                              {"targets", tgt},
                                              {"mask", m},
                                              {"old_logp", oldLogp},
                                              {"rewards", rewards},
                                              {"row_valid", rowValid},
                                              {"lr", lr}});
    ASSERT_TRUE(full.ok()) << full.status();

    // The micro-batches' grad_norm on `executor`, each with the helper's
    // scale or with 1.
    auto microStep = [&](Executor &executor, bool weighRows) {
      auto adv = executor.runNamed(
          "grpo_advantages", {{"rewards", rewards}, {"row_valid", rowValid}});
      EXPECT_TRUE(adv.ok()) << adv.status();
      double norm = NAN;
      for (int64_t part = 0; part < 2; ++part) {
        double microValid = 0;
        for (int64_t r = part * half; r < (part + 1) * half; ++r)
          microValid += valid[r];
        double scale =
            weighRows ? microBatchLossScale(lossType, 2, microValid, 4) : 1.0;
        std::map<std::string, HostTensor> inputs{
            {"tokens", rowsOf(tok, part * half, half)},
            {"targets", rowsOf(tgt, part * half, half)},
            {"mask", rowsOf(m, part * half, half)},
            {"old_logp", rowsOf(oldLogp, part * half, half)},
            {"advantages", rowsOf(adv->at("advantages"), part * half, half)},
            {"row_valid", rowsOf(rowValid, part * half, half)},
            {"loss_scale", HostTensor::fromDoubles(proto::F32, {}, {scale})}};
        if (part == 1)
          inputs["lr"] = lr;
        auto out = executor.runNamed(
            part == 0 ? "grpo_accumulate" : "grpo_micro_step", inputs);
        EXPECT_TRUE(out.ok()) << out.status();
        if (out.ok() && part == 1)
          norm = out->at("grad_norm").toDoubles()[0];
      }
      return norm;
    };
    double fullNorm = full->at("grad_norm").toDoubles()[0];
    std::unique_ptr<Executor> micro = startedExecutor(exe),
                              unweighted = startedExecutor(exe);
    EXPECT_NEAR(microStep(*micro, true), fullNorm, 1e-5 * fullNorm);
    double diff = 0, moved = 0;
    for (const auto &[name, start] : *coldStart) {
      auto x = whole->getState(name), y = micro->getState(name);
      ASSERT_TRUE(x.ok() && y.ok()) << name;
      std::vector<double> p0 = start.toDoubles(), px = x->toDoubles(),
                          py = y->toDoubles();
      for (size_t i = 0; i < p0.size(); ++i) {
        diff += (px[i] - py[i]) * (px[i] - py[i]);
        moved += (px[i] - p0[i]) * (px[i] - p0[i]);
      }
    }
    EXPECT_GT(moved, 0);
    EXPECT_LT(std::sqrt(diff), 1e-3 * std::sqrt(moved));
    // The check has teeth: unweighted micro-batches give another gradient.
    EXPECT_GT(std::abs(microStep(*unweighted, false) - fullNorm),
              0.05 * fullNorm);
  }
}

// TRL's num_iterations: the generation batch's old log-probabilities are
// taken once, so after the first of mu updates the ratio leaves 1; the
// schedule counts steps * mu updates.
TEST_F(GrpoOptions, MuUpdatesReuseOneGenerationBatch) {
  TrainConfig config = tinyConfig(
      "grpo { steps: 1 mu: 3 lr_schedule: \"linear\" }", "kiln-grpo-mu");
  proto::Executable exe = compileFor(config);
  std::unique_ptr<Executor> executor = startedExecutor(exe);
  ASSERT_TRUE(executor);
  std::vector<nlohmann::json> lines = grpo(config, *executor);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(optimizerStep(*executor), 3);
  // Linear decay over 3 updates: 1e-3 * (1, 2/3, 1/3), mean 2/3 * 1e-3.
  EXPECT_NEAR(metric(lines[0], "grpo/lr"), 2e-3 / 3, 1e-12 * 2e-3);
  EXPECT_GT(std::abs(metric(lines[0], "grpo/ratio_mean") - 1), 1e-4);

  // min_p 1 keeps only the most likely token: every completion of a group
  // is the greedy one, so every group is flat; without it they differ.
  std::unique_ptr<Executor> greedy = startedExecutor(exe);
  lines = grpo(tinyConfig("grpo { steps: 1 min_p: 1 dynamic_sampling: false }",
                          "kiln-grpo-min-p"),
               *greedy);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(metric(lines[0], "grpo/zero_variance_fraction"), 1.0);
  lines = grpo(tinyConfig("grpo { steps: 1 dynamic_sampling: false }",
                          "kiln-grpo-no-min-p"),
               *startedExecutor(exe));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(metric(lines[0], "grpo/zero_variance_fraction"), 1.0);
}

// TRL's SyncRefModelCallback: ref = alpha * policy + (1 - alpha) * ref
// every ref_model_sync_steps updates.
TEST_F(GrpoOptions, ReferenceSyncsEveryNUpdatesMixedWithAlpha) {
  TrainConfig config = tinyConfig(
      "grpo { steps: 2 beta: 0.1 sync_ref_model: true ref_model_sync_steps: 2 "
      "ref_model_mixup_alpha: 1 }",
      "kiln-grpo-sync");
  proto::Executable exe = compileFor(config);
  // The entry, by hand: alpha 0.25 of a policy moved by +1 everywhere.
  {
    std::unique_ptr<Executor> executor = startedExecutor(exe);
    ASSERT_TRUE(executor);
    ASSERT_TRUE(executor->run("snapshot_reference", {}).ok());
    const std::string name = "model.embed_tokens.weight";
    HostTensor moved = coldStart->at(name).clone();
    for (int64_t i = 0; i < moved.numElements(); ++i)
      moved.data<float>()[i] += 1.0f;
    ASSERT_TRUE(executor->setState(name, moved).ok());
    auto synced = executor->run(
        "sync_reference", {HostTensor::fromDoubles(proto::F32, {}, {0.25})});
    ASSERT_TRUE(synced.ok()) << synced.status();
    auto ref = executor->getState("ref." + name);
    ASSERT_TRUE(ref.ok());
    std::vector<double> r = ref->toDoubles(),
                        p0 = coldStart->at(name).toDoubles();
    for (size_t i = 0; i < r.size(); ++i)
      ASSERT_NEAR(r[i], p0[i] + 0.25, 1e-6) << i;
  }
  // Through the loop: synced with alpha 1 after update 2 (the last), the
  // reference is the trained policy; with a period longer than the run it
  // is still the cold start.
  for (int64_t period : {2, 3}) {
    std::unique_ptr<Executor> executor = startedExecutor(exe);
    ASSERT_TRUE(executor);
    TrainConfig run = config;
    run.mutable_grpo()->set_ref_model_sync_steps(period);
    std::vector<nlohmann::json> lines = grpo(run, *executor);
    ASSERT_EQ(optimizerStep(*executor), 2) << "both steps must update";
    double policyMoved = 0, refFromPolicy = 0, refFromStart = 0;
    for (const auto &[name, start] : *coldStart) {
      if (name.find("e_score_correction_bias") != std::string::npos)
        continue; // a router statistic, not a parameter: no reference copy
      auto p = executor->getState(name), r = executor->getState("ref." + name);
      ASSERT_TRUE(p.ok() && r.ok()) << name;
      std::vector<double> pv = p->toDoubles(), rv = r->toDoubles(),
                          sv = start.toDoubles();
      for (size_t i = 0; i < pv.size(); ++i) {
        policyMoved = std::max(policyMoved, std::abs(pv[i] - sv[i]));
        refFromPolicy = std::max(refFromPolicy, std::abs(rv[i] - pv[i]));
        refFromStart = std::max(refFromStart, std::abs(rv[i] - sv[i]));
      }
    }
    EXPECT_GT(policyMoved, 1e-4);
    if (period == 2)
      EXPECT_EQ(refFromPolicy, 0.0);
    else
      EXPECT_EQ(refFromStart, 0.0);
  }
}

// verl's use_kl_in_reward: grpo_step takes no reference log-probabilities,
// the host subtracts beta * the summed KL from each reward and logs it.
TEST_F(GrpoOptions, KlInTheRewardLeavesTheLoss) {
  TrainConfig config = tinyConfig(
      "grpo { steps: 2 beta: 0.5 kl_in_reward: true kl_estimator: \"k2\" }",
      "kiln-grpo-kl-reward");
  proto::Executable exe = compileFor(config);
  std::unique_ptr<Executor> executor = startedExecutor(exe);
  ASSERT_TRUE(executor);
  for (const auto &arg : executor->entry("grpo_step")->arguments())
    EXPECT_NE(arg.name(), "ref_logp");
  std::vector<nlohmann::json> lines = grpo(config, *executor);
  ASSERT_EQ(lines.size(), 2u);
  // Step 1 samples from the reference itself; step 2 from a moved policy.
  EXPECT_NEAR(metric(lines[0], "grpo/kl"), 0.0, 1e-9);
  EXPECT_NEAR(metric(lines[0], "grpo/kl_penalty_mean"), 0.0, 1e-9);
  EXPECT_GT(metric(lines[1], "grpo/kl"), 1e-7);
  EXPECT_GT(metric(lines[1], "grpo/kl_penalty_mean"),
            metric(lines[1], "grpo/kl") * 0.5); // beta * >= 1 token a row
}

// Weighted reward functions, DAPO's overlong shaping, GSPO's sequence ratio
// and the entropy bonus in one run: the logged reward is the weighted sum of
// the logged functions plus the penalty, which with the whole completion
// length as buffer is -factor * length / max_new_tokens.
TEST_F(GrpoOptions, WeightedRewardFunctionsAndOverlongShapingAddUp) {
  TrainConfig config = tinyConfig(
      "grpo { steps: 2 reward_funcs: [\"accuracy\", \"format\", "
      "\"lenient_format\"] reward_weights: [1, 0.5, 0.25] "
      "overlong_buffer_len: 30 overlong_penalty_factor: 0.5 "
      "importance_sampling_level: \"sequence\" entropy_coeff: 0.01 }",
      "kiln-grpo-rewards");
  proto::Executable exe = compileFor(config);
  std::unique_ptr<Executor> executor = startedExecutor(exe);
  ASSERT_TRUE(executor);
  std::vector<nlohmann::json> lines = grpo(config, *executor);
  ASSERT_EQ(lines.size(), 2u);
  for (const nlohmann::json &line : lines) {
    double accuracy = metric(line, "grpo/rewards/accuracy/mean");
    double format = metric(line, "grpo/rewards/format/mean");
    double lenient = metric(line, "grpo/rewards/lenient_format/mean");
    double penalty = metric(line, "grpo/overlong_penalty_mean");
    EXPECT_NEAR(metric(line, "grpo/reward_mean"),
                accuracy + 0.5 * format + 0.25 * lenient + penalty, 1e-12);
    EXPECT_NEAR(penalty, -0.5 * metric(line, "grpo/completion_length") / 30,
                1e-12);
    EXPECT_LT(penalty, 0);
    EXPECT_EQ(accuracy, metric(line, "grpo/accuracy"));
    EXPECT_GE(lenient, format); // lenient accepts whatever strict does
    EXPECT_GE(metric(line, "grpo/rewards/format/std"), 0);
    EXPECT_TRUE(line.contains("grpo/entropy"));
  }
  EXPECT_EQ(optimizerStep(*executor), 2);

  // The default functions are the task's two, weighted by the task.
  RewardFunctions defaults(tinyConfig("task { accuracy_weight: 2 }"));
  EXPECT_EQ(defaults.names(), (std::vector<std::string>{"accuracy", "format"}));
  EXPECT_EQ(defaults.weights(), (std::vector<double>{2, 0.1}));
  RewardFunctions chosen(config);
  models::tasks::RewardBreakdown r{1, 0, 1};
  std::vector<double> values =
      chosen.values(r, "junk <think>a</think><answer>3</answer>");
  EXPECT_EQ(values, (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(chosen.total(r, values), 1.25);
}

// Several samples per problem: pass@k by the unbiased estimator, rising
// with k, pass@1 the mean fraction of right samples; logged as eval/pass@K.
TEST_F(GrpoOptions, EvaluationWithSeveralSamplesGivesPassAtK) {
  TrainConfig config = tinyConfig(
      "eval { problems: 6 samples_per_problem: 4 pass_at_k: [1, 2, 4] }",
      "kiln-grpo-pass-at-k");
  proto::Executable exe = compileFor(config);
  std::unique_ptr<Executor> executor = startedExecutor(exe);
  ASSERT_TRUE(executor);
  ReasonerShapes shapes = tinyShapes(config);
  auto trainer =
      Trainer::create(config, *executor, shapes.seqLen, shapes.promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto eval = (*trainer)->evaluate();
  ASSERT_TRUE(eval.ok()) << eval.status();
  ASSERT_EQ(eval->passAtK.size(), 3u);
  EXPECT_EQ(eval->passAtK[0].first, 1);
  EXPECT_NEAR(eval->passAtK[0].second, eval->accuracy, 1e-12);
  EXPECT_LE(eval->passAtK[0].second, eval->passAtK[1].second);
  EXPECT_LE(eval->passAtK[1].second, eval->passAtK[2].second);
  EXPECT_GT(eval->passAtK[2].second, 0);
  // pass@n: the fraction of problems with a right sample, a multiple of 1/6.
  double solved = eval->passAtK[2].second * 6;
  EXPECT_NEAR(solved, std::round(solved), 1e-9);
  ASSERT_TRUE((*trainer)->logEvaluation(*eval).ok());
  std::ifstream in(config.output_dir() + "/metrics.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  nlohmann::json logged = nlohmann::json::parse(line);
  EXPECT_NEAR(metric(logged, "eval/pass@4"), eval->passAtK[2].second, 1e-9);
  // One greedy sample: accuracy alone, no pass@k.
  TrainConfig greedy = tinyConfig("", "kiln-grpo-greedy-eval");
  auto plain =
      Trainer::create(greedy, *executor, shapes.seqLen, shapes.promptLen);
  ASSERT_TRUE(plain.ok());
  auto once = (*plain)->evaluate();
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_TRUE(once->passAtK.empty());
}

} // namespace
} // namespace kiln::train
