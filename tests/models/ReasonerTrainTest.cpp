//===- ReasonerTrainTest.cpp - kiln-train's graph and loops on a tiny policy -===//
//
// The GRPO step moves probability toward completions with positive advantage and
// away from negative ones; the k3 KL's reference is a frozen snapshot; and short
// runs through the Trainer write metrics, periodic evaluations and checkpoints.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/Executor.h"
#include "models/train/ReasonerGraph.h"
#include "models/train/TrainConfig.h"
#include "models/train/Trainer.h"

#include "gtest/gtest.h"

namespace kiln::train {
namespace {

struct Compiled {
  TrainConfig config;
  ReasonerShapes shapes;
  std::unique_ptr<Executor> executor;
};

Compiled compileTiny(const std::string &overrides) {
  Compiled c;
  auto config = parseTrainConfig(
      "model { hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 32 "
      "kv_lora_rank: 16 qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8 "
      "num_attention_heads: 2 } grpo { prompts_per_step: 2 group_size: 2 max_new_tokens: 30 } "
      "eval { problems: 4 } " + overrides,
      "test");
  EXPECT_TRUE(config.ok()) << config.status();
  c.config = *config;
  auto sizes = Trainer::measure(c.config);
  EXPECT_TRUE(sizes.ok());
  int64_t seqLen = std::max<int64_t>(sizes->second, sizes->first + 30);
  c.shapes = {seqLen, sizes->first, 4, 4};
  auto graph = buildReasonerGraph(c.config, c.shapes);
  EXPECT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok());
  EXPECT_TRUE((*executor)->initializeState().ok());
  c.executor = std::move(*executor);
  return c;
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
  return a.byteSize() == b.byteSize() && std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

HostTensor i64Rows(int64_t rows, int64_t cols, const std::vector<int64_t> &values) {
  HostTensor t(proto::I64, {rows, cols});
  std::memcpy(t.data(), values.data(), t.byteSize());
  return t;
}

TEST(ReasonerTrain, GrpoStepFollowsTheAdvantages) {
  Compiled c = compileTiny("");
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
  ASSERT_TRUE(before.ok()) << before.status();
  // Two groups of two: rewards 1 and 0 give advantages of opposite signs.
  HostTensor adv = HostTensor::fromDoubles(proto::F32, {rows}, {1.0, 0.0, 1.0, 0.0});
  HostTensor valid = HostTensor::fromDoubles(proto::F32, {rows}, {1.0, 1.0, 1.0, 1.0});
  std::map<std::string, HostTensor> inputs{{"tokens", tok},     {"targets", tgt},
                                           {"mask", m},         {"old_logp", (*before)[0]},
                                           {"rewards", adv}, {"row_valid", valid}, {"lr", HostTensor::fromDoubles(proto::F32, {}, {1e-3})},
                                           {"total_tokens", HostTensor::fromDoubles(proto::F32, {}, {32})}};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(c.executor->runNamed("grpo_step", inputs).ok());
  auto after = c.executor->run("logprobs", {tok, tgt});
  ASSERT_TRUE(after.ok());
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
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "snapshot_reference"), 0);
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
    auto ref = c.executor->getState(name), param = c.executor->getState(name.substr(4));
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

  HostTensor adv = HostTensor::fromDoubles(proto::F32, {c.shapes.grpoBatch}, {1.0, 0.0, 1.0, 0.0});
  HostTensor valid = HostTensor::fromDoubles(proto::F32, {c.shapes.grpoBatch}, {1.0, 1.0, 1.0, 1.0});
  std::map<std::string, HostTensor> inputs{
      {"tokens", rows.tokens},         {"targets", rows.targets},
      {"mask", rows.mask},             {"old_logp", (*policy)[0]},
      {"ref_logp", (*reference)[0]},   {"rewards", adv}, {"row_valid", valid},
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

TEST(ReasonerTrain, GrpoWithReferenceEvaluatesPeriodicallyAndResumesWithoutResnapshot) {
  std::string out = ::testing::TempDir() + "/kiln-train-eval-test";
  std::filesystem::remove_all(out);
  Compiled c = compileTiny("sft { steps: 20 batch_size: 4 } grpo { steps: 3 beta: 0.1 "
                           "dynamic_sampling: false } eval { every: 1 } output_dir: \"" +
                           out + "\"");
  auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen, c.shapes.promptLen);
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
  EXPECT_EQ(countLines(metrics, "\"grpo/kl\""), countLines(metrics, "\"grpo/loss\""));

  // A run resumed mid-GRPO keeps the reference it restored.
  HostTensor marker = *ref;
  std::fill(marker.data<float>(), marker.data<float>() + marker.numElements(), 0.25f);
  ASSERT_TRUE(c.executor->setState(probe, marker).ok());
  ASSERT_TRUE((*trainer)->runGrpo(2).ok());
  auto kept = c.executor->getState(probe);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(sameBytes(*kept, marker));
}

TEST(ReasonerTrain, ShortRunWritesMetricsCheckpointsAndResumes) {
  std::string out = ::testing::TempDir() + "/kiln-train-test";
  std::filesystem::remove_all(out);
  Compiled c = compileTiny("sft { steps: 30 batch_size: 4 } grpo { steps: 2 } output_dir: \"" +
                           out + "\"");
  auto trainer = Trainer::create(c.config, *c.executor, c.shapes.seqLen, c.shapes.promptLen);
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
    events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_TRUE(events);

  // A fresh executor resumes the exact parameters.
  Compiled fresh = compileTiny("");
  auto metadata = loadCheckpoint(*fresh.executor, out + "/checkpoint.safetensors");
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(metadata->at("phase"), "grpo");
  for (const std::string &name : c.executor->stateNames()) {
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
      loadCheckpoint(*fresh.executor, out + "/checkpoint.safetensors");
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

} // namespace
} // namespace kiln::train
