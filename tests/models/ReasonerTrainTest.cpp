//===- ReasonerTrainTest.cpp - kiln-train's graph and loops on a tiny policy
//-===//
//
// The GRPO step moves probability toward completions with positive advantage
// and away from negative ones; the k3 KL's reference is a frozen snapshot; and
// short runs through the Trainer write metrics, periodic evaluations and
// checkpoints.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/DType.h"
#include "executor/ExecutableQueries.h"
#include "executor/Executor.h"
#include "models/tokenizer/ByteTokenizer.h"
#include "models/train/ReasonerGraph.h"
#include "models/train/TrainConfig.h"
#include "models/train/Trainer.h"

#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace kiln::train {
namespace {

struct Compiled {
  TrainConfig config;
  ReasonerShapes shapes;
  std::unique_ptr<Executor> executor;
  proto::Executable exe;
};

TrainConfig tinyConfig(const std::string &overrides) {
  auto config = parseTrainConfig(
      "model { hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 32 "
      "kv_lora_rank: 16 qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8 "
      "num_attention_heads: 2 } grpo { prompts_per_step: 2 group_size: 2 "
      "max_new_tokens: 30 } "
      "eval { problems: 4 } " +
          overrides,
      "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : TrainConfig();
}

/// A fresh executor of `c`'s Executable, its state initialised from seeds.
std::unique_ptr<Executor> freshExecutor(const Compiled &c) {
  auto executor = Executor::create(c.exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  EXPECT_TRUE((*executor)->initializeState().ok());
  return std::move(*executor);
}

Compiled compileTiny(const std::string &overrides,
                     const codegen::CompileOptions &options = {}) {
  Compiled c;
  c.config = tinyConfig(overrides);
  auto sizes = Trainer::measure(c.config);
  EXPECT_TRUE(sizes.ok());
  int64_t seqLen = std::max<int64_t>(sizes->second, sizes->first + 30);
  c.shapes = {seqLen, sizes->first, 4, 4};
  auto graph = buildReasonerGraph(c.config, c.shapes);
  EXPECT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  c.exe = *exe;
  c.executor = freshExecutor(c);
  return c;
}

/// The names of `executor`'s state entries of every kind but `kind` and
/// derived state (recomputed from the rest, never checkpointed).
std::vector<std::string> stateNamesBut(const EntryRunner &executor,
                                       const std::string &kind) {
  std::vector<std::string> names;
  for (const proto::StateEntry &entry : executor.executable().state())
    if (entry.kind() != kind && !isDerivedState(entry))
      names.push_back(entry.name());
  return names;
}

/// Lines of `path` that contain `text`.
int countLines(const std::string &path, const std::string &text) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    n += line.find(text) != std::string::npos;
  return n;
}

bool sameBytes(const HostTensor &a, const HostTensor &b) {
  return a.byteSize() == b.byteSize() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

HostTensor i64Rows(int64_t rows, int64_t cols,
                   const std::vector<int64_t> &values) {
  HostTensor t(proto::I64, {rows, cols});
  std::memcpy(t.data(), values.data(), t.byteSize());
  return t;
}

/// Three GRPO steps on fixed rows with advantages +1, 0, +1, 0 raise the
/// log-probabilities of the positive rows and lower the others'. Returns the
/// log-probabilities before the steps.
HostTensor expectGrpoFollowsTheAdvantages(Compiled &c) {
  const int64_t rows = c.shapes.grpoBatch, s = c.shapes.seqLen;
  std::vector<int64_t> tokens(rows * s), targets(rows * s);
  std::vector<double> mask(rows * s, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < s; ++t) {
      tokens[r * s + t] = (r * 7 + t * 3) % 256;
      targets[r * s + t] = (r * 5 + t * 11 + 1) % 256;
      mask[r * s + t] = t >= 2 && t < 10;
    }
  HostTensor tok = i64Rows(rows, s, tokens), tgt = i64Rows(rows, s, targets);
  HostTensor m = HostTensor::fromDoubles(proto::F32, {rows, s}, mask);
  auto before = c.executor->run("logprobs", {tok, tgt});
  EXPECT_TRUE(before.ok()) << before.status();
  if (!before.ok())
    return HostTensor();
  // Two groups of two: rewards 1 and 0 give advantages of opposite signs.
  HostTensor adv =
      HostTensor::fromDoubles(proto::F32, {rows}, {1.0, 0.0, 1.0, 0.0});
  HostTensor valid =
      HostTensor::fromDoubles(proto::F32, {rows}, {1.0, 1.0, 1.0, 1.0});
  std::map<std::string, HostTensor> inputs{
      {"tokens", tok},
      {"targets", tgt},
      {"mask", m},
      {"old_logp", (*before)[0]},
      {"rewards", adv},
      {"row_valid", valid},
      {"lr", HostTensor::fromDoubles(proto::F32, {}, {1e-3})},
      {"total_tokens", HostTensor::fromDoubles(proto::F32, {}, {32})}};
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(c.executor->runNamed("grpo_step", inputs).ok());
  auto after = c.executor->run("logprobs", {tok, tgt});
  EXPECT_TRUE(after.ok());
  if (!after.ok())
    return HostTensor();
  auto b = (*before)[0].toDoubles(), a = (*after)[0].toDoubles();
  for (int64_t r = 0; r < rows; ++r) {
    double delta = 0;
    for (int64_t t = 0; t < s; ++t)
      delta += mask[r * s + t] * (a[r * s + t] - b[r * s + t]);
    if (r % 2 == 0)
      EXPECT_GT(delta, 0) << "row " << r << " has a positive advantage";
    else
      EXPECT_LT(delta, 0) << "row " << r << " has a negative advantage";
  }
  return (*before)[0];
}

TEST(ReasonerTrain, GrpoStepFollowsTheAdvantages) {
  Compiled c = compileTiny("");
  expectGrpoFollowsTheAdvantages(c);
}

TEST(ReasonerTrain, Fp8PolicyQuantizesEveryWeightGemmAndStillLearns) {
  // precision fp8: the weight GEMMs and both GEMMs of their gradients run as
  // block-scaled E4M3 (exact emulation on the CPU); the step still follows
  // the advantages, and the log-probabilities stay near the bf16 policy's.
  Compiled wide = compileTiny("");
  codegen::CompileOptions options;
  options.precision = "fp8";
  Compiled narrow = compileTiny("", options);
  int grpoScaled = 0;
  for (const proto::EntryPoint &entry : narrow.exe.entries())
    if (entry.name() == "grpo_step")
      for (const proto::Step &step : entry.steps())
        grpoScaled += step.op() == "scaled_matmul";
  // A training step quantizes every weight GEMM three times (forward, input
  // and weight gradient): at least the attention projections' and the dense
  // and shared-expert MLPs'.
  EXPECT_GE(grpoScaled, 3 * 6);
  HostTensor wideLogp = expectGrpoFollowsTheAdvantages(wide);
  HostTensor narrowLogp = expectGrpoFollowsTheAdvantages(narrow);
  ASSERT_EQ(wideLogp.numElements(), narrowLogp.numElements());
  auto a = wideLogp.toDoubles(), b = narrowLogp.toDoubles();
  double worst = 0, differ = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]));
    differ += a[i] != b[i];
  }
  EXPECT_GT(differ, 0)
      << "fp8 changed no log-probability: nothing was quantized";
  EXPECT_LT(worst, 0.25) << "fp8 moved a log-probability by " << worst;
}

/// Fixed rows for the step tests: arbitrary tokens, 8 counted targets a row.
struct StepRows {
  HostTensor tokens, targets, mask;
  std::vector<double> maskValues;
};

StepRows stepRows(const ReasonerShapes &shapes) {
  const int64_t rows = shapes.grpoBatch, s = shapes.seqLen;
  std::vector<int64_t> tokens(rows * s), targets(rows * s);
  std::vector<double> mask(rows * s, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < s; ++t) {
      tokens[r * s + t] = (r * 7 + t * 3) % 256;
      targets[r * s + t] = (r * 5 + t * 11 + 1) % 256;
      mask[r * s + t] = t >= 2 && t < 10;
    }
  return {i64Rows(rows, s, tokens), i64Rows(rows, s, targets),
          HostTensor::fromDoubles(proto::F32, {rows, s}, mask), mask};
}

TEST(ReasonerTrain, ZeroBetaBuildsNoReference) {
  // The requirement: with beta = 0 no reference model exists or runs.
  Compiled c = compileTiny("");
  std::vector<std::string> entries = c.executor->entryNames();
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "snapshot_reference"),
            0);
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "ref_logprobs"), 0);
  for (const std::string &name : c.executor->stateNames())
    EXPECT_NE(name.rfind("ref.", 0), 0u) << name;
  for (const auto &arg : c.executor->entry("grpo_step")->arguments())
    EXPECT_NE(arg.name(), "ref_logp");
}

TEST(ReasonerTrain, ReferenceIsAFrozenSnapshotThatAnchorsTheKl) {
  Compiled c = compileTiny("grpo { beta: 0.5 }");
  StepRows rows = stepRows(c.shapes);
  // Until snapshot_reference runs, the reference holds its zero initializer.
  auto unset = c.executor->getState("ref.model.embed_tokens.weight");
  ASSERT_TRUE(unset.ok()) << unset.status();
  for (double v : unset->toDoubles())
    ASSERT_EQ(v, 0.0);
  ASSERT_TRUE(c.executor->run("snapshot_reference", {}).ok());
  int64_t parameters = 0;
  for (const std::string &name : c.executor->stateNames()) {
    if (name.rfind("ref.", 0) != 0)
      continue;
    ++parameters;
    auto ref = c.executor->getState(name),
         param = c.executor->getState(name.substr(4));
    ASSERT_TRUE(ref.ok() && param.ok()) << name;
    EXPECT_TRUE(sameBytes(*ref, *param)) << name;
  }
  EXPECT_GT(parameters, 10);

  auto policy = c.executor->run("logprobs", {rows.tokens, rows.targets});
  auto reference = c.executor->run("ref_logprobs", {rows.tokens, rows.targets});
  ASSERT_TRUE(policy.ok() && reference.ok()) << reference.status();
  auto p0 = (*policy)[0].toDoubles(), r0 = (*reference)[0].toDoubles();
  for (size_t i = 0; i < p0.size(); ++i)
    ASSERT_NEAR(p0[i], r0[i], 1e-5) << i;

  HostTensor adv = HostTensor::fromDoubles(proto::F32, {c.shapes.grpoBatch},
                                           {1.0, 0.0, 1.0, 0.0});
  HostTensor valid = HostTensor::fromDoubles(proto::F32, {c.shapes.grpoBatch},
                                             {1.0, 1.0, 1.0, 1.0});
  std::map<std::string, HostTensor> inputs{
      {"tokens", rows.tokens},
      {"targets", rows.targets},
      {"mask", rows.mask},
      {"old_logp", (*policy)[0]},
      {"ref_logp", (*reference)[0]},
      {"rewards", adv},
      {"row_valid", valid},
      {"lr", HostTensor::fromDoubles(proto::F32, {}, {1e-3})},
      {"total_tokens", HostTensor::fromDoubles(proto::F32, {}, {32})}};
  std::vector<double> kl;
  for (int i = 0; i < 3; ++i) {
    auto out = c.executor->runNamed("grpo_step", inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    kl.push_back(out->at("kl").toDoubles()[0]);
  }
  // The first step sees the policy at the reference (KL 0); after updates the
  // policy has moved and the reference has not.
  EXPECT_NEAR(kl[0], 0.0, 1e-6);
  EXPECT_GT(kl[2], 1e-6);
  auto moved = c.executor->run("logprobs", {rows.tokens, rows.targets});
  auto frozen = c.executor->run("ref_logprobs", {rows.tokens, rows.targets});
  ASSERT_TRUE(moved.ok() && frozen.ok());
  auto p1 = (*moved)[0].toDoubles(), r1 = (*frozen)[0].toDoubles();
  double policyChange = 0, referenceChange = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    policyChange = std::max(policyChange, std::abs(p1[i] - p0[i]));
    referenceChange = std::max(referenceChange, std::abs(r1[i] - r0[i]));
  }
  EXPECT_GT(policyChange, 1e-4);
  EXPECT_EQ(referenceChange, 0.0);
}

TEST(ReasonerTrain,
     GrpoWithReferenceEvaluatesPeriodicallyAndResumesWithoutResnapshot) {
  std::string out = ::testing::TempDir() + "/kiln-train-eval-test";
  std::filesystem::remove_all(out);
  Compiled c =
      compileTiny("sft { steps: 20 batch_size: 4 } grpo { steps: 3 beta: 0.1 "
                  "dynamic_sampling: false } eval { every: 1 } output_dir: \"" +
                  out + "\"");
  auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                 c.shapes.promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  const std::string probe = "ref.model.embed_tokens.weight";
  auto sftHead = c.executor->getState("model.embed_tokens.weight");
  ASSERT_TRUE(sftHead.ok()) << sftHead.status();
  ASSERT_TRUE((*trainer)->runGrpo().ok());
  // GRPO started by snapshotting the SFT policy, then trained only the policy.
  auto ref = c.executor->getState(probe);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_TRUE(sameBytes(*ref, *sftHead));

  // Evaluations after steps 1 and 2; the last step's is the caller's.
  const std::string metrics = out + "/metrics.jsonl";
  EXPECT_EQ(countLines(metrics, "\"eval/accuracy\""), 2);
  EXPECT_EQ(countLines(metrics, "\"eval/format_rate\""), 2);
  // Every step that ran an update logs the KL next to the loss.
  EXPECT_EQ(countLines(metrics, "\"grpo/kl\""),
            countLines(metrics, "\"grpo/loss\""));

  // A run resumed mid-GRPO keeps the reference it restored.
  HostTensor marker = *ref;
  std::fill(marker.data<float>(), marker.data<float>() + marker.numElements(),
            0.25f);
  ASSERT_TRUE(c.executor->setState(probe, marker).ok());
  ASSERT_TRUE((*trainer)->runGrpo(2).ok());
  auto kept = c.executor->getState(probe);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(sameBytes(*kept, marker));
}

TEST(ReasonerTrain, ShortRunWritesMetricsCheckpointsAndResumes) {
  std::string out = ::testing::TempDir() + "/kiln-train-test";
  std::filesystem::remove_all(out);
  Compiled c = compileTiny(
      "sft { steps: 30 batch_size: 4 } grpo { steps: 2 } output_dir: \"" + out +
      "\"");
  auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                 c.shapes.promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  ASSERT_TRUE((*trainer)->runGrpo().ok());
  auto eval = (*trainer)->evaluate();
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->problems, 4);
  ASSERT_TRUE((*trainer)->saveCheckpoint("grpo", 2).ok());

  std::ifstream jsonl(out + "/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(jsonl, line))
    lines += line.find("\"step\"") != std::string::npos;
  EXPECT_EQ(lines, 32); // 30 SFT steps + 2 GRPO steps
  bool events = false;
  for (const auto &e : std::filesystem::directory_iterator(out + "/tb"))
    events |=
        e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(events);

  // A fresh executor resumes the exact parameters (and every other state
  // but the KV caches, rollout scratch that checkpoints leave out).
  Compiled fresh = compileTiny("");
  auto metadata =
      loadTrainerCheckpoint(*fresh.executor, out + "/checkpoint.safetensors");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(metadata->at("phase"), "grpo");
  for (const std::string &name : stateNamesBut(*c.executor, "cache")) {
    auto x = c.executor->getState(name), y = fresh.executor->getState(name);
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(std::memcmp(x->data(), y->data(), x->byteSize()), 0) << name;
  }
}

// --resume read "step" with std::stoll: "x" aborted kiln-train, "1e3" read
// as 1, "-5" was accepted, and "phase" was never checked.
TEST(ReasonerTrain, ResumeMetadataIsParsedStrictly) {
  auto config =
      parseTrainConfig("sft { steps: 600 } grpo { steps: 40 }", "test");
  ASSERT_TRUE(config.ok());
  auto point =
      parseResumePoint({{"phase", "grpo"}, {"step", "12"}}, "ck", *config);
  ASSERT_TRUE(point.ok()) << point.status();
  EXPECT_EQ(point->phase, "grpo");
  EXPECT_EQ(point->step, 12);
  point = parseResumePoint({}, "ck", *config);
  ASSERT_TRUE(point.ok());
  EXPECT_EQ(point->phase, "sft");
  EXPECT_EQ(point->step, 0);
  for (const char *bad : {"x", "1e3", "-5", "", " 5", "5 ", "+5", "0x10",
                          "99999999999999999999", "41"}) {
    auto r = parseResumePoint({{"phase", "grpo"}, {"step", bad}},
                              "out/ck.safetensors", *config);
    ASSERT_FALSE(r.ok()) << bad;
    std::string m(r.status().message());
    EXPECT_NE(m.find("out/ck.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("metadata 'step' is \"" + std::string(bad) + "\""),
              std::string::npos)
        << m;
  }
  auto r =
      parseResumePoint({{"phase", "warmup"}, {"step", "1"}}, "ck", *config);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("metadata 'phase' is \"warmup\""),
            std::string::npos)
      << r.status();
}

/// Steps of the metrics.jsonl lines at `path`, in order.
std::vector<int64_t> metricSteps(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::vector<int64_t> steps;
  while (std::getline(in, line)) {
    size_t at = line.find("\"step\":");
    if (at != std::string::npos)
      steps.push_back(std::stoll(line.substr(at + 7)));
  }
  return steps;
}

// A full disk while writing metrics lost every step since the last
// checkpoint; a resumed run restarted metrics at step 0; temporaries of a
// killed run stayed forever; Ctrl-C waited for a whole evaluation.
TEST(ReasonerTrain, FailuresStopWithACheckpointAndResumeContinues) {
  if (!std::filesystem::exists("/dev/full"))
    GTEST_SKIP() << "no /dev/full to stand in for a full disk";
  std::string out = ::testing::TempDir() + "/kiln-train-failures";
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  Compiled c =
      compileTiny("sft { steps: 4 batch_size: 4 } output_dir: \"" + out + "\"");
  std::filesystem::create_symlink("/dev/full", out + "/metrics.jsonl");
  std::string stale = out + "/checkpoint.safetensors.tmp.2147483000";
  std::string live =
      out + "/checkpoint.safetensors.tmp." + std::to_string(::getpid());
  std::ofstream(stale) << "half a checkpoint";
  std::ofstream(live) << "being written";
  {
    auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    EXPECT_FALSE(std::filesystem::exists(stale));
    EXPECT_TRUE(std::filesystem::exists(live)); // its writer is alive
    absl::Status s = (*trainer)->runSft();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("metrics.jsonl"), std::string::npos) << s;
    EXPECT_NE(s.message().find("stopped with a checkpoint at sft step 1"),
              std::string::npos)
        << s;
  }
  std::filesystem::remove(live);
  Compiled fresh = compileTiny("");
  auto metadata =
      loadTrainerCheckpoint(*fresh.executor, out + "/checkpoint.safetensors");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto point = parseResumePoint(*metadata, "ck", c.config);
  ASSERT_TRUE(point.ok()) << point.status();
  EXPECT_EQ(point->phase, "sft");
  EXPECT_EQ(point->step, 1);

  // Resumed with room on the disk: metrics continue at the checkpoint's step.
  std::filesystem::remove(out + "/metrics.jsonl");
  {
    auto trainer = Trainer::create(c.config, *fresh.executor, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    (*trainer)->resumeFrom(*point);
    ASSERT_TRUE((*trainer)->runSft(point->step).ok());
    EXPECT_EQ(metricSteps(out + "/metrics.jsonl"),
              (std::vector<int64_t>{1, 2, 3}));
    // A stop request ends an evaluation before its next decode step.
    std::atomic<bool> stop{true};
    (*trainer)->setStopFlag(&stop);
    auto eval = (*trainer)->evaluate();
    EXPECT_TRUE(absl::IsCancelled(eval.status())) << eval.status();
  }
}

// The training graph took log-probabilities of untempered logits while
// rollouts sampled from logits / temperature: the ratio, KL and entropy
// described another distribution than the one that sampled.
TEST(ReasonerTrain, GrpoLogprobsAreOfLogitsOverTheTemperature) {
  const double temperature = 0.5;
  // The untempered entry is set explicitly: the default rollout temperature
  // is 0.5 (make demo's recipe, docs/RECIPE.md), not 1.
  Compiled plain = compileTiny("grpo { temperature: 1 }");
  Compiled tempered =
      compileTiny("grpo { temperature: " + std::to_string(temperature) + " }");
  const int64_t rows = plain.shapes.grpoBatch, s = plain.shapes.seqLen;
  const int64_t vocab = tokenizer::ByteTokenizer::kVocabSize, at = 5;
  // Every row reads the same tokens, so position `at` has the same logits
  // z in every row; targets there walk the vocabulary, rows at a time, to
  // read log softmax(z) (z up to a constant) from the untempered entry.
  std::vector<int64_t> tokens(rows * s);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < s; ++t)
      tokens[r * s + t] = (t * 37 + 11) % 256;
  HostTensor tok = i64Rows(rows, s, tokens);
  std::vector<double> z(vocab), temperedLogp(vocab);
  for (int64_t first = 0; first < vocab; first += rows) {
    std::vector<int64_t> targets(rows * s, 0);
    for (int64_t r = 0; r < rows; ++r)
      targets[r * s + at] = std::min(first + r, vocab - 1);
    HostTensor tgt = i64Rows(rows, s, targets);
    auto a = plain.executor->run("logprobs", {tok, tgt});
    auto b = tempered.executor->run("logprobs", {tok, tgt});
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    auto av = (*a)[0].toDoubles(), bv = (*b)[0].toDoubles();
    for (int64_t r = 0; r < rows && first + r < vocab; ++r) {
      z[first + r] = av[r * s + at];
      temperedLogp[first + r] = bv[r * s + at];
    }
  }
  // The reference: log softmax(z / T), and its entropy, in double.
  double zmax = *std::max_element(z.begin(), z.end()), total = 0;
  for (double v : z)
    total += std::exp((v - zmax) / temperature);
  double entropy = 0, largest = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    double logp = (z[v] - zmax) / temperature - std::log(total);
    EXPECT_NEAR(temperedLogp[v], logp, 2e-4 + 2e-5 * std::abs(logp)) << v;
    entropy -= std::exp(logp) * logp;
    largest = std::max(largest, std::abs(logp - z[v]));
  }
  EXPECT_GT(largest, 0.1); // tempering changed the distribution

  // grpo_step's entropy is of the same tempered distribution, and its ratio
  // against the tempered logprobs entry is 1 before any update.
  std::vector<double> mask(rows * s, 0.0);
  mask[at] = 1;
  std::vector<int64_t> targets(rows * s, 65);
  HostTensor tgt = i64Rows(rows, s, targets);
  auto old = tempered.executor->run("logprobs", {tok, tgt});
  ASSERT_TRUE(old.ok());
  std::map<std::string, HostTensor> inputs{
      {"tokens", tok},
      {"targets", tgt},
      {"mask", HostTensor::fromDoubles(proto::F32, {rows, s}, mask)},
      {"old_logp", (*old)[0]},
      {"rewards", HostTensor::fromDoubles(proto::F32, {rows}, {1, 0, 1, 0})},
      {"row_valid", HostTensor::fromDoubles(proto::F32, {rows}, {1, 1, 1, 1})},
      {"lr", HostTensor::fromDoubles(proto::F32, {}, {0.0})},
      {"total_tokens", HostTensor::fromDoubles(proto::F32, {}, {1})}};
  auto out = tempered.executor->runNamed("grpo_step", inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR(out->at("entropy").toDoubles()[0], entropy, 1e-4 * entropy);
  EXPECT_NEAR(out->at("ratio_mean").toDoubles()[0], 1.0, 1e-6);
}

/// Checks v = 0.1 m^2 for every AdamW moment pair: what one update from zero
/// moments leaves (m = (1 - beta1) g, v = (1 - beta2) g^2), whatever g was.
/// Returns how many elements had m != 0.
int64_t expectOneUpdateFromZeroMoments(const Executor &executor) {
  int64_t nonzero = 0;
  for (const std::string &name : executor.stateNames()) {
    if (name.size() < 8 || name.compare(name.size() - 8, 8, ".exp_avg") != 0)
      continue;
    auto m = executor.getState(name), v = executor.getState(name + "_sq");
    EXPECT_TRUE(m.ok() && v.ok()) << name;
    if (!m.ok() || !v.ok())
      return nonzero;
    auto mv = m->toDoubles(), vv = v->toDoubles();
    for (size_t i = 0; i < mv.size(); ++i) {
      double want = 0.1 * mv[i] * mv[i];
      EXPECT_NEAR(vv[i], want, 1e-5 * want + 1e-30) << name << " " << i;
      if (std::abs(vv[i] - want) > 1e-5 * want + 1e-30)
        return nonzero;
      nonzero += mv[i] != 0;
    }
  }
  return nonzero;
}

double optimizerStep(const Executor &executor) {
  auto step = executor.getState("optim.step");
  EXPECT_TRUE(step.ok()) << step.status();
  return step.ok() ? step->toDoubles()[0] : -1;
}

// GRPO inherited SFT's AdamW moments and step count, so its first updates
// were scaled by the supervised gradients' history.
TEST(ReasonerTrain, GrpoStartsWithAFreshOptimizerState) {
  // The entry: after SFT updates, reset_optimizer and one GRPO update leave
  // the moments of that update alone.
  Compiled c = compileTiny("");
  StepRows rows = stepRows(c.shapes);
  std::vector<HostTensor> sft = {
      rows.tokens, rows.targets, rows.mask,
      HostTensor::fromDoubles(proto::F32, {}, {1e-3})};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(c.executor->run("sft_step", sft).ok());
  EXPECT_EQ(optimizerStep(*c.executor), 3);
  ASSERT_TRUE(c.executor->run("reset_optimizer", {}).ok());
  EXPECT_EQ(optimizerStep(*c.executor), 0);
  auto old = c.executor->run("logprobs", {rows.tokens, rows.targets});
  ASSERT_TRUE(old.ok());
  std::map<std::string, HostTensor> inputs{
      {"tokens", rows.tokens},
      {"targets", rows.targets},
      {"mask", rows.mask},
      {"old_logp", (*old)[0]},
      {"rewards", HostTensor::fromDoubles(proto::F32, {4}, {1, 0, 1, 0})},
      {"row_valid", HostTensor::fromDoubles(proto::F32, {4}, {1, 1, 1, 1})},
      {"lr", HostTensor::fromDoubles(proto::F32, {}, {1e-3})},
      {"total_tokens", HostTensor::fromDoubles(proto::F32, {}, {32})}};
  ASSERT_TRUE(c.executor->runNamed("grpo_step", inputs).ok());
  EXPECT_EQ(optimizerStep(*c.executor), 1);
  EXPECT_GT(expectOneUpdateFromZeroMoments(*c.executor), 1000);

  // The loop: runGrpo from step 0 resets what SFT left (here its one update
  // has flat rewards, so the moments it leaves are exactly 0).
  Compiled run = compileTiny(
      "sft { steps: 3 batch_size: 4 } grpo { steps: 1 dynamic_sampling: false "
      "mask_truncated_completions: false } output_dir: \"" +
      ::testing::TempDir() + "/kiln-train-fresh-adam\"");
  auto trainer = Trainer::create(run.config, *run.executor, run.shapes.seqLen,
                                 run.shapes.promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  EXPECT_EQ(optimizerStep(*run.executor), 3);
  ASSERT_TRUE((*trainer)->runGrpo().ok());
  EXPECT_EQ(optimizerStep(*run.executor), 1);
  expectOneUpdateFromZeroMoments(*run.executor);
}

// Every completion truncated (two new tokens at most): with the switch on
// (Kiln's and DAPO's default) they leave the loss; off (TRL's default) they
// enter it.
TEST(ReasonerTrain, MaskTruncatedCompletionsIsASwitch) {
  for (bool maskTruncated : {true, false}) {
    std::string out = ::testing::TempDir() + "/kiln-train-truncated-" +
                      std::to_string(maskTruncated);
    std::filesystem::remove_all(out);
    Compiled c = compileTiny(
        std::string("grpo { steps: 1 max_new_tokens: 2 dynamic_sampling: false "
                    "mask_truncated_completions: ") +
        (maskTruncated ? "true" : "false") +
        " } mode: \"grpo\" output_dir: \"" + out + "\"");
    auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->runGrpo().ok());
    const std::string metrics = out + "/metrics.jsonl";
    EXPECT_EQ(countLines(metrics, "\"grpo/truncated_fraction\":1.0"), 1);
    // Masked, no token counts and no update runs; kept, they count and the
    // step updates, with metrics over their tokens.
    EXPECT_EQ(optimizerStep(*c.executor), maskTruncated ? 0 : 1);
    EXPECT_EQ(countLines(metrics, "\"grpo/loss\""), maskTruncated ? 0 : 1);
    EXPECT_EQ(countLines(metrics, "\"grpo/ratio_mean\""),
              maskTruncated ? 0 : 1);
  }
}

TEST(ReasonerTrain, DynamicSamplingFiltersOnTheChosenMetric) {
  using models::tasks::RewardBreakdown;
  // Both wrong, one well formatted: no accuracy signal, a reward signal.
  std::vector<RewardBreakdown> formatOnly = {{0, 1, 0.1}, {0, 0, 0}};
  EXPECT_FALSE(groupHasSignal(formatOnly, "accuracy"));
  EXPECT_TRUE(groupHasSignal(formatOnly, "reward"));
  std::vector<RewardBreakdown> oneRight = {{1, 1, 1.1}, {0, 1, 0.1}};
  EXPECT_TRUE(groupHasSignal(oneRight, "accuracy"));
  EXPECT_TRUE(groupHasSignal(oneRight, "reward"));
  std::vector<RewardBreakdown> same = {{1, 1, 1.1}, {1, 1, 1.1}};
  EXPECT_FALSE(groupHasSignal(same, "accuracy"));
  EXPECT_FALSE(groupHasSignal(same, "reward"));
}

// An untrained policy answers nothing right, so no group has an accuracy
// signal: dynamic sampling draws the first batch and max_resample_rounds
// more, then gives up, and says so.
TEST(ReasonerTrain, DynamicSamplingSaysWhenItGivesUp) {
  std::string out = ::testing::TempDir() + "/kiln-train-give-up";
  std::filesystem::remove_all(out);
  Compiled c =
      compileTiny("mode: \"grpo\" grpo { steps: 1 max_resample_rounds: 2 } "
                  "output_dir: \"" +
                  out + "\"");
  auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                 c.shapes.promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE((*trainer)->runGrpo().ok());
  std::string said = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(said.find("dynamic sampling kept 0 of 2 groups after 3 batches"),
            std::string::npos)
      << said;
  const std::string metrics = out + "/metrics.jsonl";
  EXPECT_EQ(countLines(metrics, "\"grpo/batch_filled\":0.0"), 1);
  EXPECT_EQ(countLines(metrics, "\"grpo/generation_batches\":3.0"), 1);
  EXPECT_EQ(countLines(metrics, "\"grpo/accuracy\":0.0,"), 1);
}

/// Mean of `name` over the lines of metrics.jsonl at `path` that have it.
double meanMetric(const std::string &path, const std::string &name) {
  std::ifstream in(path);
  std::string line;
  double total = 0;
  int64_t n = 0;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains(name))
      total += j[name].get<double>(), ++n;
  }
  return n ? total / n : NAN;
}

// top_k reaches the rollouts: with top_k 1 every completion of a group is
// the greedy one, so every group's rewards are equal; with no filter a
// policy that half learned its task samples groups that differ.
TEST(ReasonerTrain, TopKFiltersRollouts) {
  Compiled c = compileTiny(
      "task { digits: 1 } sft { steps: 150 batch_size: 4 } output_dir: \"" +
      ::testing::TempDir() + "/kiln-train-top-k-sft\"");
  {
    auto sft = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                               c.shapes.promptLen);
    ASSERT_TRUE(sft.ok()) << sft.status();
    ASSERT_TRUE((*sft)->runSft().ok());
  }
  double flat[2];
  for (int64_t topK : {0, 1}) {
    std::string out =
        ::testing::TempDir() + "/kiln-train-top-k-" + std::to_string(topK);
    std::filesystem::remove_all(out);
    TrainConfig config =
        tinyConfig("task { digits: 1 } grpo { steps: 3 dynamic_sampling: false "
                   "learning_rate: 1e-9 top_k: " +
                   std::to_string(topK) + " } output_dir: \"" + out + "\"");
    auto trainer = Trainer::create(config, *c.executor, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->runGrpo().ok());
    flat[topK] =
        meanMetric(out + "/metrics.jsonl", "grpo/zero_variance_fraction");
  }
  EXPECT_LT(flat[0], 1.0);
  EXPECT_EQ(flat[1], 1.0);
}

/// metrics.jsonl's lines as objects, without the fields that measure time.
std::vector<nlohmann::json> metricLines(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  std::vector<nlohmann::json> lines;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    for (const char *timed :
         {"wall_time", "grpo/tokens_per_second", "sft/tokens_per_second"})
      j.erase(timed);
    lines.push_back(j);
  }
  return lines;
}

// --resume restarted the GRPO prompt stream at its first problem, so a
// resumed run trained on other prompts than an uninterrupted one.
TEST(ReasonerTrain, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  // Dynamic sampling (a varying number of prompts per step), mu = 2, a KL
  // reference and a warmed-up cosine schedule: every piece of state a
  // resumed run must restore.
  const std::string settings =
      "task { digits: 1 } sft { steps: 150 batch_size: 4 } "
      "grpo { steps: 4 mu: 2 beta: 0.1 "
      "learning_rate: 1e-3 lr_schedule: \"cosine\" warmup_steps: 1 "
      "filter_metric: \"reward\" mask_truncated_completions: false } ";
  std::string whole = ::testing::TempDir() + "/kiln-train-whole";
  std::string parts = ::testing::TempDir() + "/kiln-train-parts";
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(parts);
  Compiled c = compileTiny(settings + "output_dir: \"" + whole + "\"");
  TrainConfig partsConfig =
      tinyConfig(settings + "output_dir: \"" + parts + "\"");
  {
    auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->runSft().ok());
    ASSERT_TRUE((*trainer)->runGrpo().ok());
  }
  // Interrupted after GRPO step 2, as Ctrl-C does: the loop checkpoints at
  // the next step's start.
  {
    std::unique_ptr<Executor> first = freshExecutor(c);
    auto trainer = Trainer::create(partsConfig, *first, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    std::atomic<bool> stop{false};
    (*trainer)->setStopFlag(&stop);
    (*trainer)->setProgress([&](const std::string &phase, int64_t step, int64_t,
                                const std::string &) {
      if (phase == "grpo" && step == 2)
        stop = true;
    });
    ASSERT_TRUE((*trainer)->runSft().ok());
    ASSERT_TRUE((*trainer)->runGrpo().ok());
  }
  std::unique_ptr<Executor> resumed = freshExecutor(c);
  auto metadata =
      loadTrainerCheckpoint(*resumed, parts + "/checkpoint.safetensors");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  auto point = parseResumePoint(*metadata, "ck", partsConfig);
  ASSERT_TRUE(point.ok()) << point.status();
  EXPECT_EQ(point->phase, "grpo");
  EXPECT_EQ(point->step, 2);
  ASSERT_TRUE(point->promptCursor.has_value());
  EXPECT_GE(*point->promptCursor,
            (uint64_t{1} << 30) + 2 * 2); // 2 steps of 2 prompts
  {
    auto trainer = Trainer::create(partsConfig, *resumed, c.shapes.seqLen,
                                   c.shapes.promptLen);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    (*trainer)->resumeFrom(*point);
    ASSERT_TRUE((*trainer)->runGrpo(point->step).ok());
  }
  // Every state but the KV caches (rollout scratch that checkpoints leave
  // out: past each completion they hold what earlier rollouts left there).
  std::vector<std::string> names = stateNamesBut(*c.executor, "cache");
  EXPECT_GT(names.size(), 30u);
  for (const std::string &name : names) {
    auto x = c.executor->getState(name), y = resumed->getState(name);
    if (!x.ok() && !y.ok())
      continue; // never set in either run (e.g. a cache the entries fill)
    ASSERT_TRUE(x.ok() && y.ok()) << name;
    EXPECT_TRUE(sameBytes(*x, *y)) << name;
  }
  std::vector<nlohmann::json> a = metricLines(whole + "/metrics.jsonl"),
                              b = metricLines(parts + "/metrics.jsonl");
  ASSERT_EQ(a.size(), 154u); // 150 SFT and 4 GRPO steps
  ASSERT_EQ(b.size(), 154u);
  // The policy learned enough for groups to differ: updates moved it.
  int64_t learning = 0;
  for (const nlohmann::json &line : a)
    learning += line.value("grpo/advantage_abs_mean", 0.0) > 0;
  EXPECT_GE(learning, 2);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(a[i], b[i]) << "metrics line " << i;
}

/// Inputs for `entry` that any of the reasoner's entries accepts: token ids
/// 0..4, prompt lengths and decode positions 3, masks and sampling
/// parameters of ones, a learning rate of 0.01.
std::vector<HostTensor> plainInputs(const proto::EntryPoint &entry) {
  std::vector<HostTensor> inputs;
  for (const proto::Argument &a : entry.arguments()) {
    if (!a.state().empty())
      continue;
    const proto::TensorType &t = entry.buffers(a.buffer());
    std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    std::vector<double> values(n, a.name() == "lr" ? 0.01 : 1.0);
    if (isInteger(t.dtype()))
      for (int64_t i = 0; i < n; ++i)
        values[i] =
            a.name() == "lengths" || a.name() == "positions" ? 3 : i % 5;
    inputs.push_back(HostTensor::fromDoubles(t.dtype(), shape, values));
  }
  return inputs;
}

// kiln-hoist-derived-state on the policy's own graph: decode reads state
// derived from the parameters (MLA's absorbed slices of kv_b_proj), the SFT
// step writes the parameters, and the next decode must see the new ones:
// bit for bit what the program without the pass computes.
TEST(ReasonerTrain, DerivedStateFollowsEveryTrainStep) {
  codegen::CompileOptions plainOptions;
  plainOptions.hoistDerivedState = false;
  Compiled hoisted = compileTiny("");
  Compiled plain = compileTiny("", plainOptions);
  int derived = 0;
  for (const proto::StateEntry &s : hoisted.exe.state())
    derived += isDerivedState(s);
  ASSERT_GT(derived, 0) << "the policy's graph has nothing to hoist any more";
  auto inputsOf = [&](const char *entry) {
    const proto::EntryPoint *ep = hoisted.executor->entry(entry);
    EXPECT_TRUE(ep) << entry;
    return ep ? plainInputs(*ep) : std::vector<HostTensor>{};
  };
  std::vector<HostTensor> prefill = inputsOf("prefill"),
                          decode = inputsOf("decode"),
                          sft = inputsOf("sft_step");
  for (int round = 0; round < 3; ++round) {
    for (Executor *e : {hoisted.executor.get(), plain.executor.get()})
      ASSERT_TRUE(e->run("prefill", prefill).ok());
    auto a = hoisted.executor->run("decode", decode);
    auto b = plain.executor->run("decode", decode);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    ASSERT_EQ((*a)[0].byteSize(), (*b)[0].byteSize());
    EXPECT_EQ(std::memcmp((*a)[0].data(), (*b)[0].data(), (*a)[0].byteSize()),
              0)
        << "decode's logits differ after " << round << " SFT steps";
    for (Executor *e : {hoisted.executor.get(), plain.executor.get()})
      ASSERT_TRUE(e->run("sft_step", sft).ok());
  }
}

} // namespace
} // namespace kiln::train
