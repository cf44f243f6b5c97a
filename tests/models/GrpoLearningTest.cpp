//===- GrpoLearningTest.cpp - a short GRPO run raises reward on an easy task ===//
//
// A small policy learns one-digit addition demonstrations briefly (SFT), then GRPO
// samples groups of completions for a fixed pool of four prompts; the mean sampled
// reward of the last steps must clearly exceed that of the first ones. Fixed seeds
// make the run deterministic (seeds 1, 2, 3 gave 0.28 -> 0.59, 0.23 -> 0.41 and
// 0.29 -> 0.77 when this was written).
//
//===----------------------------------------------------------------------===//

#include <filesystem>
#include <fstream>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/train/ReasonerGraph.h"
#include "models/train/TrainConfig.h"
#include "models/train/Trainer.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kiln::train {
namespace {

TEST(GrpoLearning, ShortRunRaisesRewardOnAnEasyTask) {
  std::string out = ::testing::TempDir() + "/kiln-grpo-learning";
  std::filesystem::remove_all(out);
  auto config = parseTrainConfig(
      "seed: 1 task { digits: 1 } sft { steps: 150 } "
      "grpo { steps: 16 prompts_per_step: 4 prompt_pool: 4 learning_rate: 1e-3 } "
      "output_dir: \"" + out + "\"",
      "test");
  ASSERT_TRUE(config.ok()) << config.status();
  auto sizes = Trainer::measure(*config);
  ASSERT_TRUE(sizes.ok());
  int64_t seqLen = std::max<int64_t>(sizes->second, sizes->first + config->grpo().max_new_tokens());
  ReasonerShapes shapes{seqLen, sizes->first, config->sft().batch_size(),
                        config->grpo().prompts_per_step() * config->grpo().group_size()};
  auto graph = buildReasonerGraph(*config, shapes);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok());
  ASSERT_TRUE((*executor)->initializeState().ok());
  auto trainer = Trainer::create(*config, **executor, seqLen, sizes->first);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_TRUE((*trainer)->runSft().ok());
  ASSERT_TRUE((*trainer)->runGrpo().ok());

  std::vector<double> rewards;
  std::ifstream in(out + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto json = nlohmann::json::parse(line);
    if (json.contains("grpo/reward_mean"))
      rewards.push_back(json["grpo/reward_mean"].get<double>());
  }
  ASSERT_EQ(rewards.size(), 16u);
  double first = (rewards[0] + rewards[1] + rewards[2] + rewards[3]) / 4;
  double last = (rewards[12] + rewards[13] + rewards[14] + rewards[15]) / 4;
  std::printf("mean sampled reward: first 4 steps %.3f, last 4 steps %.3f\n", first, last);
  EXPECT_GT(last, first + 0.15);
}

} // namespace
} // namespace kiln::train
