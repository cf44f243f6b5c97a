//===- TrainConfigTest.cpp - kiln-train's configuration parsing ------------===//

#include "models/train/TrainConfig.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kiln::train {
namespace {

TEST(TrainConfig, DefaultsAreTheDocumentedOnes) {
  auto config = parseTrainConfig("", "empty");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->mode(), "sft+grpo");
  EXPECT_EQ(config->device(), "cpu");
  EXPECT_EQ(config->grpo().loss_type(), "dapo");
  EXPECT_EQ(config->grpo().group_size(), 8);
  EXPECT_EQ(config->eval().problems(), 500);
}

TEST(TrainConfig, FileThenOverridesInOrder) {
  auto config = parseTrainConfig("grpo { epsilon_high: 0.3 group_size: 4 } task { name: \"countdown\" }",
                                 "run.textproto",
                                 {"grpo { group_size: 6 }", "sft { steps: 3 }"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->grpo().epsilon_high(), 0.3);
  EXPECT_EQ(config->grpo().group_size(), 6);
  EXPECT_EQ(config->sft().steps(), 3);
  EXPECT_EQ(config->task().name(), "countdown");
}

TEST(TrainConfig, UnknownFieldIsAnErrorNamingItAndItsLine) {
  auto config = parseTrainConfig("grpo {\n  betta: 0.1\n}", "run.textproto");
  ASSERT_FALSE(config.ok());
  std::string message(config.status().message());
  EXPECT_TRUE(absl::StrContains(message, "run.textproto:2:")) << message;
  EXPECT_TRUE(absl::StrContains(message, "betta")) << message;
}

TEST(TrainConfig, MalformedTextAndBadValuesAreErrors) {
  EXPECT_FALSE(parseTrainConfig("grpo { beta: }", "a").ok());
  EXPECT_FALSE(parseTrainConfig("grpo { group_size: \"x\" }", "a").ok());
  auto badLoss = parseTrainConfig("grpo { loss_type: \"ppo\" }", "a");
  ASSERT_FALSE(badLoss.ok());
  EXPECT_TRUE(absl::StrContains(badLoss.status().message(), "grpo.loss_type")) << badLoss.status();
  auto badGroup = parseTrainConfig("grpo { group_size: 1 }", "a");
  ASSERT_FALSE(badGroup.ok());
  EXPECT_TRUE(absl::StrContains(badGroup.status().message(), "group_size")) << badGroup.status();
  EXPECT_FALSE(parseTrainConfig("", "a", {"mode: \"rl\""}).ok());
  EXPECT_FALSE(parseTrainConfig("model { num_experts_per_tok: 9 }", "a").ok());
  auto beta = parseTrainConfig("grpo { beta: -0.1 }", "a");
  ASSERT_FALSE(beta.ok());
  EXPECT_TRUE(absl::StrContains(beta.status().message(), "grpo.beta")) << beta.status();
}

TEST(TrainConfig, PositiveBetaIsAcceptedAndZeroIsTheDefault) {
  // beta > 0 trains against a frozen reference (ReasonerGraph's ref_logprobs);
  // the default 0 runs none.
  auto config = parseTrainConfig("grpo { beta: 0.04 }", "a");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->grpo().beta(), 0.04);
  EXPECT_DOUBLE_EQ(parseTrainConfig("", "a")->grpo().beta(), 0.0);
}

TEST(TrainConfig, MissingFileIsAnErrorNamingIt) {
  auto config = loadTrainConfig("/nonexistent/run.textproto");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "/nonexistent/run.textproto"));
}

} // namespace
} // namespace kiln::train
