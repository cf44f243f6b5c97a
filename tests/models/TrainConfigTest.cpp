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

TEST(TrainConfig, GrpoDefaultsFollowDapo) {
  auto config = parseTrainConfig("", "a");
  ASSERT_TRUE(config.ok()) << config.status();
  const GrpoConfig &g = config->grpo();
  EXPECT_EQ(g.loss_type(), "dapo");
  EXPECT_DOUBLE_EQ(g.epsilon_high(), 0.28);
  EXPECT_TRUE(g.dynamic_sampling());
  EXPECT_EQ(g.filter_metric(), "accuracy");
  EXPECT_TRUE(g.mask_truncated_completions());
  EXPECT_EQ(g.lr_schedule(), "constant");
  EXPECT_EQ(g.warmup_steps(), 0);
  EXPECT_FALSE(g.has_preset());
  EXPECT_FALSE(config->task().countdown_allow_subsets());
}

TEST(TrainConfig, PresetsSetTheirSourcesDefaultsAndExplicitFieldsWin) {
  auto trl = parseTrainConfig("grpo { preset: \"trl\" }", "a");
  ASSERT_TRUE(trl.ok()) << trl.status();
  EXPECT_EQ(trl->grpo().loss_type(), "dapo");
  EXPECT_EQ(trl->grpo().scale_rewards(), "group");
  EXPECT_DOUBLE_EQ(trl->grpo().epsilon_low(), 0.2);
  EXPECT_DOUBLE_EQ(trl->grpo().epsilon_high(), 0.2);
  EXPECT_DOUBLE_EQ(trl->grpo().beta(), 0.0);
  EXPECT_FALSE(trl->grpo().dynamic_sampling());
  EXPECT_FALSE(trl->grpo().mask_truncated_completions());
  EXPECT_EQ(trl->grpo().lr_schedule(), "linear");
  // Sizes and the learning rate stay the configuration's.
  EXPECT_DOUBLE_EQ(trl->grpo().learning_rate(), GrpoConfig().learning_rate());
  EXPECT_EQ(trl->grpo().group_size(), 8);

  auto dapo = parseTrainConfig("grpo { preset: \"dapo\" }", "a");
  ASSERT_TRUE(dapo.ok()) << dapo.status();
  EXPECT_DOUBLE_EQ(dapo->grpo().epsilon_high(), 0.28);
  EXPECT_TRUE(dapo->grpo().dynamic_sampling());
  EXPECT_EQ(dapo->grpo().filter_metric(), "accuracy");
  EXPECT_EQ(dapo->grpo().max_resample_rounds(), 9);
  EXPECT_TRUE(dapo->grpo().mask_truncated_completions());
  EXPECT_EQ(dapo->grpo().warmup_steps(), 10);

  // A field the configuration sets wins over the preset, wherever it is set
  // (before or after the preset, in the file or an override).
  auto drGrpo =
      parseTrainConfig("grpo { epsilon_high: 0.3 preset: \"dr_grpo\" }", "a",
                       {"grpo { scale_rewards: \"batch\" }"});
  ASSERT_TRUE(drGrpo.ok()) << drGrpo.status();
  EXPECT_EQ(drGrpo->grpo().loss_type(), "dr_grpo");
  EXPECT_DOUBLE_EQ(drGrpo->grpo().epsilon_high(), 0.3);
  EXPECT_EQ(drGrpo->grpo().scale_rewards(), "batch");
  EXPECT_FALSE(drGrpo->grpo().dynamic_sampling());
  // Even when it spells the Kiln default.
  auto explicitDefault =
      parseTrainConfig("grpo { preset: \"trl\" dynamic_sampling: true }", "a");
  ASSERT_TRUE(explicitDefault.ok());
  EXPECT_TRUE(explicitDefault->grpo().dynamic_sampling());

  auto unknown =
      parseTrainConfig("", "run.textproto", {"grpo { preset: \"ppo\" }"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(absl::StrContains(
      unknown.status().message(),
      "grpo.preset is \"ppo\"; expected one of: trl, dapo, dr_grpo"))
      << unknown.status();
}

TEST(TrainConfig, NewGrpoChoicesAreChecked) {
  for (const char *bad :
       {"grpo { filter_metric: \"acc\" }", "grpo { lr_schedule: \"step\" }",
        "grpo { warmup_steps: -1 }", "grpo { min_lr_ratio: 1.5 }",
        "grpo { max_resample_rounds: -1 }", "grpo { top_k: -1 }",
        "grpo { kl_estimator: \"k4\" }"}) {
    auto config = parseTrainConfig(bad, "a");
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_TRUE(absl::StrContains(config.status().message(), "grpo."))
        << config.status();
  }
  EXPECT_TRUE(parseTrainConfig(
                  "grpo { filter_metric: \"reward\" lr_schedule: \"cosine\" "
                  "warmup_steps: 3 min_lr_ratio: 0.1 }",
                  "a")
                  .ok());
}

TEST(TrainConfig, PositiveBetaIsAcceptedAndZeroIsTheDefault) {
  // beta > 0 trains against a frozen reference (ReasonerGraph's ref_logprobs);
  // the default 0 runs none.
  auto config = parseTrainConfig("grpo { beta: 0.04 }", "a");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_DOUBLE_EQ(config->grpo().beta(), 0.04);
  EXPECT_DOUBLE_EQ(parseTrainConfig("", "a")->grpo().beta(), 0.0);
}

// NaN passes every `< 0` check and crashed graph building; infinity trained
// hundreds of NaN steps. Every floating-point field is checked, by path.
TEST(TrainConfig, NonFiniteValuesAreErrorsNamingTheField) {
  for (const char *field :
       {"grpo { beta: nan }", "grpo { epsilon_low: nan }",
        "grpo { epsilon_high: inf }", "sft { learning_rate: inf }",
        "grpo { learning_rate: -inf }", "grpo { temperature: nan }",
        "grpo { top_p: nan }", "task { format_weight: nan }",
        "task { accuracy_weight: inf }"}) {
    auto config = parseTrainConfig(field, "run.textproto");
    ASSERT_FALSE(config.ok()) << field;
    std::string path =
        std::string(field).substr(0, std::string(field).find(' ')) + "." +
        std::string(field).substr(std::string(field).find("{ ") + 2,
                                  std::string(field).find(':') -
                                      std::string(field).find("{ ") - 2);
    EXPECT_TRUE(absl::StrContains(config.status().message(),
                                  path + " must be a finite number"))
        << field << ": " << config.status();
  }
  // Sizes whose products would wrap int64 (prompts_per_step * group_size).
  auto huge = parseTrainConfig(
      "grpo { prompts_per_step: 4611686018427387904 group_size: 4 }", "a");
  ASSERT_FALSE(huge.ok());
  EXPECT_TRUE(
      absl::StrContains(huge.status().message(), "grpo.prompts_per_step is"))
      << huge.status();
  EXPECT_TRUE(parseTrainConfig("seed: 9223372036854775807", "a").ok());
}

// Issue 15's second part: every new field is checked, and a bad value is an
// error naming it.
TEST(TrainConfig, GrpoExtrasAreCheckedNamingTheField) {
  auto ok = parseTrainConfig(
      "grpo { importance_sampling_level: \"sequence\" overlong_buffer_len: 8 "
      "overlong_penalty_factor: 0.5 entropy_coeff: 0.01 "
      "reward_funcs: [\"accuracy\", \"lenient_format\"] "
      "reward_weights: [1, 0.2] beta: 0.1 kl_in_reward: true "
      "sync_ref_model: true ref_model_sync_steps: 4 "
      "ref_model_mixup_alpha: 0.9 gradient_accumulation_steps: 4 min_p: 0.1 } "
      "eval { samples_per_problem: 8 pass_at_k: [1, 4, 8] temperature: 0.7 }",
      "ok");
  ASSERT_TRUE(ok.ok()) << ok.status();
  // The defaults change nothing: token ratios, no shaping or bonus, the
  // task's two weighted rewards, KL in the loss, no sync, one micro-batch,
  // no min_p, one greedy evaluation sample.
  auto defaults = parseTrainConfig("", "defaults");
  ASSERT_TRUE(defaults.ok());
  const GrpoConfig &g = defaults->grpo();
  EXPECT_EQ(g.importance_sampling_level(), "token");
  EXPECT_EQ(g.overlong_buffer_len(), 0);
  EXPECT_EQ(g.entropy_coeff(), 0);
  EXPECT_EQ(g.reward_funcs_size(), 0);
  EXPECT_FALSE(g.kl_in_reward());
  EXPECT_FALSE(g.sync_ref_model());
  EXPECT_EQ(g.ref_model_sync_steps(), 512);  // TRL's
  EXPECT_EQ(g.ref_model_mixup_alpha(), 0.6); // TRL's
  EXPECT_EQ(g.gradient_accumulation_steps(), 1);
  EXPECT_EQ(g.min_p(), 0);
  EXPECT_EQ(defaults->eval().samples_per_problem(), 1);

  for (auto [text, field] : std::vector<std::pair<std::string, std::string>>{
           {"grpo { importance_sampling_level: \"seq\" }",
            "grpo.importance_sampling_level"},
           {"grpo { overlong_buffer_len: -1 }", "grpo.overlong_buffer_len"},
           {"grpo { overlong_buffer_len: 41 }", "grpo.overlong_buffer_len"},
           {"grpo { overlong_penalty_factor: -1 }",
            "grpo.overlong_penalty_factor"},
           {"grpo { overlong_penalty_factor: nan }",
            "grpo.overlong_penalty_factor"},
           {"grpo { entropy_coeff: -0.1 }", "grpo.entropy_coeff"},
           {"grpo { entropy_coeff: inf }", "grpo.entropy_coeff"},
           {"grpo { reward_funcs: \"length\" }", "grpo.reward_funcs[0]"},
           {"grpo { reward_funcs: [\"format\", \"format\"] }",
            "grpo.reward_funcs"},
           {"grpo { reward_funcs: \"format\" reward_weights: [1, 2] }",
            "grpo.reward_weights"},
           {"grpo { reward_weights: 1 }", "grpo.reward_weights"},
           {"grpo { reward_funcs: \"format\" reward_weights: nan }",
            "grpo.reward_weights[0]"},
           {"grpo { reward_funcs: \"format\" } task { format_weight: 1 }",
            "task.format_weight"},
           {"grpo { kl_in_reward: true }", "grpo.kl_in_reward"},
           {"grpo { sync_ref_model: true }", "grpo.sync_ref_model"},
           {"grpo { ref_model_sync_steps: 0 }", "grpo.ref_model_sync_steps"},
           {"grpo { ref_model_mixup_alpha: 1.5 }",
            "grpo.ref_model_mixup_alpha"},
           {"grpo { ref_model_mixup_alpha: -inf }",
            "grpo.ref_model_mixup_alpha"},
           {"grpo { gradient_accumulation_steps: 0 }",
            "grpo.gradient_accumulation_steps"},
           {"grpo { gradient_accumulation_steps: 3 }",
            "grpo.gradient_accumulation_steps"},
           {"grpo { min_p: 1.5 }", "grpo.min_p"},
           {"grpo { min_p: nan }", "grpo.min_p"},
           {"eval { samples_per_problem: 0 }", "eval.samples_per_problem"},
           {"eval { samples_per_problem: 4 pass_at_k: 5 }",
            "eval.pass_at_k[0]"},
           {"eval { pass_at_k: 0 }", "eval.pass_at_k[0]"},
           {"eval { samples_per_problem: 4 temperature: 0 }",
            "eval.temperature"},
           {"eval { temperature: nan }", "eval.temperature"}}) {
    auto config = parseTrainConfig(text, "run");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_TRUE(absl::StrContains(config.status().message(), field))
        << text << ": " << config.status();
  }
}

// Flag values are assigned to their fields, not spliced into textproto: a
// quote in --output-dir once switched the mode.
TEST(TrainConfig, FlagValuesCannotInjectFields) {
  FlagValues flags;
  flags.outputDir = "out\" mode: \"grpo";
  flags.device = "cpu";
  auto config = parseTrainConfig("", "defaults", {}, flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->output_dir(), "out\" mode: \"grpo");
  EXPECT_EQ(config->mode(), "sft+grpo");
  flags.mode = "sft\" device: \"cuda";
  auto bad = parseTrainConfig("", "defaults", {}, flags);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "mode is"))
      << bad.status();
  flags = {};
  flags.mode = "grpo";
  config = parseTrainConfig("mode: \"sft\"", "run.textproto", {}, flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->mode(), "grpo"); // flags win over the file
}

TEST(TrainConfig, AFolderIsNotAConfiguration) {
  std::string dir = ::testing::TempDir();
  auto config = loadTrainConfig(dir);
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "is a folder"))
      << config.status();
  EXPECT_TRUE(absl::StrContains(config.status().message(), dir))
      << config.status();
}

TEST(TrainConfig, MissingFileIsAnErrorNamingIt) {
  auto config = loadTrainConfig("/nonexistent/run.textproto");
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(absl::StrContains(config.status().message(), "/nonexistent/run.textproto"));
}

TEST(TrainConfig, HfCheckpointAndJsonlAreCheckedNamingTheField) {
  auto ok = parseTrainConfig(
      "mode: \"grpo\" model { hf_checkpoint: \"ckpt\" chat_template: "
      "\"chatml\" } task { name: \"jsonl\" jsonl { path: \"d.jsonl\" "
      "prompt_field: \"q\" reward: \"exact\" } }",
      "ok");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->task().jsonl().answer_field(), "answer");
  EXPECT_EQ(ok->task().jsonl().eval_fraction(), 0.1);
  for (auto [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"model { hf_checkpoint: \"\" }", "model.hf_checkpoint needs"},
           {"model { hf_checkpoint: \"c\" num_hidden_layers: 2 }",
            "model.num_hidden_layers is set, but model.hf_checkpoint"},
           {"model { chat_template: \"chatml\" }",
            "model.chat_template needs model.hf_checkpoint"},
           {"model { hf_checkpoint: \"c\" chat_template: \"llama\" }",
            "model.chat_template is \"llama\""},
           {"task { jsonl { path: \"d\" } }",
            "task.jsonl is set but task.name is \"arithmetic\""},
           {"mode: \"grpo\" task { name: \"jsonl\" }",
            "task.name \"jsonl\" needs task.jsonl.path"},
           {"mode: \"grpo\" task { name: \"jsonl\" jsonl { path: \"d\" "
            "reward: \"regex\" } }",
            "task.jsonl.reward is \"regex\""},
           {"mode: \"grpo\" task { name: \"jsonl\" jsonl { path: \"d\" "
            "eval_fraction: 1 } }",
            "task.jsonl.eval_fraction must be in (0, 1)"},
           {"mode: \"grpo\" task { name: \"jsonl\" jsonl { path: \"d\" "
            "prompt_field: \"\" } }",
            "must not be empty"},
           {"task { name: \"jsonl\" jsonl { path: \"d\" } }",
            "runs SFT, which needs worked completions"},
       }) {
    auto config = parseTrainConfig(text, "run");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_TRUE(absl::StrContains(config.status().message(), message))
        << text << "\n got: " << config.status();
  }
}

} // namespace
} // namespace kiln::train
