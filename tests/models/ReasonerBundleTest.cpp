//===- ReasonerBundleTest.cpp - kiln-train on either device and from bundles
//-===//
//
// The trainer runs through the EntryRunner interface; kiln-train's bundle keys
// depend on exactly what the compiled graph depends on; --export-bundle writes
// a host and a ptx Executable; kiln-train-rt (no compiler) trains from the
// exported host Executable to the same loss as an in-process compile; and
// --device=cuda without a GPU or an unknown device fails with a clear message.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "executor/Bundle.h"
#include "executor/Executor.h"
#include "models/train/ReasonerBundle.h"
#include "models/train/ReasonerCompile.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/TrainConfig.h"
#include "models/train/TrainDevice.h"
#include "models/train/Trainer.h"
#include "tests/models/RunCommand.h"

#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace kiln::train {
namespace {

// A policy small enough that a host compile and an SFT step take a moment.
constexpr const char *kTiny =
    "model { hidden_size: 32 intermediate_size: 64 moe_intermediate_size: 32 "
    "kv_lora_rank: 16 qk_nope_head_dim: 8 qk_rope_head_dim: 8 v_head_dim: 8 "
    "num_attention_heads: 2 } sft { steps: 1 batch_size: 4 } "
    "grpo { prompts_per_step: 2 group_size: 2 max_new_tokens: 30 } eval { "
    "problems: 2 }";

std::string freshDir(const std::string &name) {
  std::string dir = ::testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TrainConfig tinyConfig(const std::string &extra = "") {
  auto config = parseTrainConfig(std::string(kTiny) + " " + extra, "test");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : TrainConfig();
}

using kiln::tests::Command;
using kiln::tests::runCommand;

/// kiln-train (or kiln-train-rt) on the tiny policy, plus `flags`.
Command runTrain(const std::string &binary, const std::string &flags) {
  return runCommand(binary + " --set='" + kTiny + "' " + flags);
}

/// The sft/loss of every SFT step in a metrics.jsonl, in order.
std::vector<double> sftLosses(const std::string &metricsPath) {
  std::ifstream in(metricsPath);
  std::vector<double> losses;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("sft/loss"))
      losses.push_back(j["sft/loss"].get<double>());
  }
  return losses;
}

TEST(ReasonerBundle, TheHashCoversWhatTheGraphDependsOn) {
  TrainConfig base = tinyConfig();
  auto shapes = reasonerShapes(base);
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  std::string hash = reasonerModelHash(base, *shapes);
  EXPECT_EQ(hash.size(), 16u);
  // Effective values, not what the file spelled: a default set explicitly
  // hashes alike.
  EXPECT_EQ(reasonerModelHash(tinyConfig("model { seed: 1 } grpo { beta: 0 }"),
                              *shapes),
            hash);
  // Learning rates, step counts, the output folder and the device do not reach
  // the graph.
  EXPECT_EQ(reasonerModelHash(
                tinyConfig("sft { learning_rate: 1e-2 steps: 9 } "
                           "grpo { learning_rate: 1 steps: 3 min_p: 0.1 "
                           "overlong_buffer_len: 4 } device: \"cuda\" "
                           "output_dir: \"elsewhere\""),
                *shapes),
            hash);
  // The model and the GRPO objective baked into grpo_step do.
  for (const char *change :
       {"model { hidden_size: 48 }", "model { seed: 2 }", "grpo { beta: 0.04 }",
        "grpo { loss_type: \"grpo\" }", "grpo { epsilon_high: 0.2 }",
        "grpo { scale_rewards: \"none\" }", "grpo { temperature: 0.7 }",
        "grpo { kl_estimator: \"k2\" }",
        "grpo { importance_sampling_level: \"sequence\" }",
        "grpo { entropy_coeff: 0.01 }",
        "grpo { beta: 0.04 kl_in_reward: true }",
        "grpo { gradient_accumulation_steps: 2 }"})
    EXPECT_NE(reasonerModelHash(tinyConfig(change), *shapes), hash) << change;
  ReasonerShapes other = *shapes;
  other.sftBatch += 1;
  EXPECT_NE(reasonerModelHash(base, other), hash);
  EXPECT_EQ(reasonerBucket({100, 20, 16, 64}), "s100_p20_b16_g64");
  // Experts sharded over the ranks are another state table, so another
  // bucket than the same ranks' data parallelism alone.
  ReasonerShapes experts{100, 20, 8, 32};
  experts.dataParallel = 2;
  EXPECT_EQ(reasonerBucket(experts), "s100_p20_b8_g32_dp2");
  experts.expertParallel = 2;
  EXPECT_EQ(reasonerBucket(experts), "s100_p20_b8_g32_dp2_ep2");
  BundleKey key = reasonerBundleKey(base, *shapes, "ptx");
  EXPECT_EQ(key.entry, "reasoner");
  EXPECT_EQ(key.target, "ptx");
  EXPECT_FALSE(key.compilerVersion.empty());
}

TEST(ReasonerBundle, TheGpuCheckConfigSharesTheDefaultBundle) {
  // make gpu-carry exports only the defaults' bundle; the GPU check config must
  // find it.
  auto defaults = parseTrainConfig("", "defaults");
  auto check = loadTrainConfig(KILN_SOURCE_DIR
                               "/models/train/configs/gpu-check.textproto");
  ASSERT_TRUE(defaults.ok() && check.ok()) << check.status();
  auto a = reasonerShapes(*defaults), b = reasonerShapes(*check);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(reasonerBundleKey(*check, *b, "ptx"),
            reasonerBundleKey(*defaults, *a, "ptx"));
}

TEST(ReasonerBundle, TrainerRunsOnAnEntryRunnerAndCheckpointsThroughIt) {
  std::string out = freshDir("kiln-entry-runner");
  TrainConfig config =
      tinyConfig("sft { steps: 2 } output_dir: \"" + out + "\"");
  auto shapes = reasonerShapes(config);
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  auto exe = compileReasoner(config, *shapes, "host");
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto runner = openExecutor("cpu", *exe);
  ASSERT_TRUE(runner.ok()) << runner.status();
  EntryRunner &executor = **runner;
  EXPECT_TRUE(absl::StartsWith(executor.deviceDescription(), "CPU"))
      << executor.deviceDescription();
  auto trainer =
      Trainer::create(config, executor, shapes->seqLen, shapes->promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  std::vector<double> losses = sftLosses(out + "/metrics.jsonl");
  ASSERT_EQ(losses.size(), 2u);
  EXPECT_GT(losses[0], 0.0);
  ASSERT_TRUE((*trainer)->saveCheckpoint("sft", 2).ok());
  EXPECT_TRUE(std::filesystem::exists(out + "/checkpoint.safetensors"));
}

TEST(ReasonerBundle, DevicesMapToTargetsAndUnknownOnesAreNamed) {
  EXPECT_EQ(*targetForDevice("cpu"), "host");
  EXPECT_EQ(*targetForDevice("cuda"), "ptx");
  auto bad = targetForDevice("tpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "\"tpu\""))
      << bad.status();
  auto config = parseTrainConfig("device: \"gpu\"", "test");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "\"gpu\""))
      << config.status();

  proto::Executable ptx;
  ptx.set_target("ptx");
  auto wrong = openExecutor("cpu", ptx);
  ASSERT_FALSE(wrong.ok());
  EXPECT_TRUE(absl::StrContains(wrong.status().message(), "'ptx'"))
      << wrong.status();
}

TEST(ReasonerBundle, CudaWithoutAGpuSaysNoCudaDevice) {
  absl::Status s = checkDevice("cuda");
  if (s.ok())
    GTEST_SKIP() << "a CUDA device is present";
  EXPECT_TRUE(absl::StrContains(s.message(), "no CUDA device")) << s;

  Command c = runTrain(KILN_TRAIN_BIN, "--device=cuda --output-dir=" +
                                           freshDir("kiln-train-cuda"));
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "no CUDA device")) << c.output;
  // The runtime binary says the same before it reads the bundle.
  c = runTrain(KILN_TRAIN_RT_BIN,
               "--device=cuda --bundle=" + freshDir("kiln-no-bundle"));
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "no CUDA device")) << c.output;
}

TEST(ReasonerBundle, UnknownDeviceFlagIsAnErrorNamingTheValue) {
  Command c = runTrain(KILN_TRAIN_BIN, "--device=tpu --output-dir=" +
                                           freshDir("kiln-train-tpu"));
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "device is \"tpu\"")) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "cpu, cuda")) << c.output;
}

// Flag values are set on their fields: a quote in --mode or --output-dir no
// longer injects textproto fields; a folder given as --config is refused, not
// read as an empty configuration; absurd sizes are refused before anything
// is allocated, saying what they need.
TEST(ReasonerBundle, HostileFlagsAreErrorsNamingTheValue) {
  Command c =
      runTrain(KILN_TRAIN_BIN, "--mode='sft\" device: \"tpu' --output-dir=" +
                                   freshDir("kiln-train-inject"));
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "mode is \"sft\" device: \"tpu\""))
      << c.output;
  std::string dir = freshDir("kiln-train-config-dir");
  std::filesystem::create_directories(dir);
  c = runTrain(KILN_TRAIN_BIN, "--config=" + dir);
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "is a folder")) << c.output;
  c = runTrain(
      KILN_TRAIN_BIN,
      "--set='model { hidden_size: 1000000 num_hidden_layers: 100000 }' "
      "--output-dir=" +
          freshDir("kiln-train-huge"));
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "the policy needs")) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "GiB")) << c.output;
  c = runTrain(KILN_TRAIN_BIN, "--set='grpo { beta: nan }'");
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "grpo.beta must be a finite number"))
      << c.output;
}

// Ctrl-C during a long evaluation used to wait for all of it: now the
// evaluation stops at its next decode step and kiln-train exits with a
// checkpoint.
TEST(ReasonerBundle, CtrlCDuringEvaluationStopsPromptlyWithACheckpoint) {
  std::string out = freshDir("kiln-train-interrupt");
  std::string script =
      "{ " + std::string(KILN_TRAIN_BIN) + " --set='" + kTiny +
      "' --set='eval { problems: 50000 }' --mode=sft --output-dir=" + out +
      " & pid=$!; i=0; while [ ! -s " + out +
      "/metrics.jsonl ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done; "
      "sleep 0.5; kill -INT $pid; start=$(date +%s); wait $pid; rc=$?; "
      "echo \"rc=$rc after $(( $(date +%s) - start )) s\"; }";
  Command c = runCommand(script);
  EXPECT_TRUE(absl::StrContains(c.output, "rc=1 after")) << c.output;
  EXPECT_TRUE(absl::StrContains(
      c.output, "interrupted during evaluation; checkpoint saved"))
      << c.output;
  EXPECT_TRUE(std::filesystem::exists(out + "/checkpoint.safetensors"));
  // Promptly: far less than the evaluation of 50000 problems would take.
  size_t at = c.output.find("rc=1 after ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LE(std::stoi(c.output.substr(at + 11)), 10) << c.output;
}

TEST(ReasonerBundle, ExportBundleWritesHostAndPtxExecutables) {
  std::string dir = freshDir("kiln-reasoner-bundle");
  Command c = runTrain(KILN_TRAIN_BIN, "--export-bundle=" + dir);
  TrainConfig config = tinyConfig();
  auto shapes = reasonerShapes(config);
  ASSERT_TRUE(shapes.ok());
  BundleKey hostKey = reasonerBundleKey(config, *shapes, "host");
  BundleKey ptxKey = reasonerBundleKey(config, *shapes, "ptx");
  if (c.rc != 0) {
    // Only a ptx codegen gap may stop the export; the compiler's message names
    // the op.
    ASSERT_TRUE(absl::StrContains(c.output, "for the ptx target")) << c.output;
    // Nothing was written, and the host side exports on its own.
    EXPECT_FALSE(std::filesystem::exists(dir + "/manifest.json"));
    auto host = exportReasonerBundle(config, *shapes, dir, {"host"});
    ASSERT_TRUE(host.ok()) << host.status();
  } else {
    EXPECT_TRUE(absl::StrContains(c.output, bundleKeyString(hostKey)))
        << c.output;
    EXPECT_TRUE(absl::StrContains(c.output, bundleKeyString(ptxKey)))
        << c.output;
  }
  auto bundle = openBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  auto host = bundle->load(hostKey);
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(host->target(), "host");
  auto executor = Executor::create(*host);
  ASSERT_TRUE(executor.ok()) << executor.status();
  EXPECT_NE((*executor)->entry("sft_step"), nullptr);
  if (c.rc != 0)
    GTEST_SKIP() << "the ptx compile of the reasoner graph failed:\n"
                 << c.output;
  auto ptx = bundle->load(ptxKey);
  ASSERT_TRUE(ptx.ok()) << ptx.status();
  EXPECT_EQ(ptx->target(), "ptx");
  EXPECT_GT(ptx->modules_size(), 0);
  for (const char *entry :
       {"sft_step", "logprobs", "grpo_step", "prefill", "decode"}) {
    bool found = false;
    for (const auto &e : ptx->entries())
      found |= e.name() == entry;
    EXPECT_TRUE(found) << entry;
  }
}

TEST(ReasonerBundle,
     RuntimeOnlyTrainerFromTheBundleMatchesTheInProcessCompile) {
  // In process: compile, one SFT step.
  std::string out = freshDir("kiln-inprocess-sft");
  TrainConfig config = tinyConfig("output_dir: \"" + out + "\"");
  auto shapes = reasonerShapes(config);
  ASSERT_TRUE(shapes.ok());
  auto exe = compileReasoner(config, *shapes, "host");
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto runner = openExecutor("cpu", *exe);
  ASSERT_TRUE(runner.ok()) << runner.status();
  auto trainer =
      Trainer::create(config, **runner, shapes->seqLen, shapes->promptLen);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  std::vector<double> expected = sftLosses(out + "/metrics.jsonl");
  ASSERT_EQ(expected.size(), 1u);

  // kiln-train-rt, which has no compiler, from the exported host Executable.
  std::string dir = freshDir("kiln-roundtrip-bundle");
  ASSERT_TRUE(exportReasonerBundle(config, *shapes, dir, {"host"}).ok());
  std::string rtOut = freshDir("kiln-rt-sft");
  Command c = runTrain(KILN_TRAIN_RT_BIN,
                       "--mode=sft --bundle=" + dir + " --output-dir=" + rtOut);
  ASSERT_EQ(c.rc, 0) << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "loaded the policy's entries"))
      << c.output;
  std::vector<double> losses = sftLosses(rtOut + "/metrics.jsonl");
  ASSERT_EQ(losses.size(), 1u) << c.output;
  EXPECT_EQ(losses[0], expected[0]);
}

TEST(ReasonerBundle, AMissingKeyNamesTheKeyAndTheCommandThatFillsIt) {
  TrainConfig config = tinyConfig();
  auto shapes = reasonerShapes(config);
  ASSERT_TRUE(shapes.ok());
  std::string dir = freshDir("kiln-missing-key");
  ASSERT_TRUE(writeBundleManifest(dir, {}).ok());
  auto exe = loadReasonerExecutable(dir, config, *shapes, "ptx",
                                    "kiln-train --export-bundle=" + dir);
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(absl::IsNotFound(exe.status())) << exe.status();
  const std::string message(exe.status().message());
  EXPECT_TRUE(absl::StrContains(
      message, bundleKeyString(reasonerBundleKey(config, *shapes, "ptx"))))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "kiln-train --export-bundle=" + dir))
      << message;

  // The binary spells the command with the user's own configuration flags.
  Command c = runTrain(KILN_TRAIN_RT_BIN, "--bundle=" + dir);
  EXPECT_EQ(c.rc, 1) << c.output;
  EXPECT_TRUE(
      absl::StrContains(c.output, "fill it with: kiln-train '--set=model {"))
      << c.output;
  EXPECT_TRUE(absl::StrContains(c.output, "--export-bundle=" + dir))
      << c.output;
}

} // namespace
} // namespace kiln::train
