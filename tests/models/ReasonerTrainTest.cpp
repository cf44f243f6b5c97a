//===- ReasonerTrainTest.cpp - kiln-train's graph and loops on a tiny policy -===//
//
// The GRPO step moves probability toward completions with positive advantage and
// away from negative ones; the supervised step lowers its loss; and a short
// SFT + GRPO run through the Trainer writes metrics, checkpoints and resumes.
//
//===----------------------------------------------------------------------===//

#include <cstring>
#include <filesystem>
#include <fstream>

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
  HostTensor adv = HostTensor::fromDoubles(proto::F32, {rows}, {1.0, -1.0, 1.0, -1.0});
  std::map<std::string, HostTensor> inputs{{"tokens", tok},     {"targets", tgt},
                                           {"mask", m},         {"old_logp", (*before)[0]},
                                           {"advantages", adv}, {"lr", HostTensor::fromDoubles(proto::F32, {}, {1e-3})},
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

} // namespace
} // namespace kiln::train
