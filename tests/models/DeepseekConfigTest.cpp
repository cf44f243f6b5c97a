//===- DeepseekConfigTest.cpp - reading DeepSeek-V3 config.json files
//------===//
//
// Both rope spellings give the same model; every value Kiln cannot run is an
// error naming the field; the rope numbers match what transformers computed
// for the parity fixture.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <string>

#include "executor/Safetensors.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/deepseek/DeepseekRope.h"
#include "nlohmann/json.hpp"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";

// A published DeepSeek-V3 config.json (rope_scaling + top-level rope_theta),
// shrunk.
const char *kPublished = R"({
  "architectures": ["DeepseekV3ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0,
  "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config"},
  "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1,
  "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 32,
  "initializer_range": 0.02, "intermediate_size": 48, "kv_lora_rank": 16,
  "max_position_embeddings": 16384, "model_type": "deepseek_v3",
  "moe_intermediate_size": 16, "moe_layer_freq": 1, "n_group": 4,
  "n_routed_experts": 8, "n_shared_experts": 1, "norm_topk_prob": true,
  "num_attention_heads": 4, "num_experts_per_tok": 2, "num_hidden_layers": 3,
  "num_key_value_heads": 4, "num_nextn_predict_layers": 1, "pretraining_tp": 1,
  "q_lora_rank": 24, "qk_nope_head_dim": 8, "qk_rope_head_dim": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 4,
                   "mscale": 1.0, "mscale_all_dim": 0.8,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid",
  "seq_aux": true, "tie_word_embeddings": false, "topk_group": 2,
  "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 8,
  "vocab_size": 64
})";

DeepseekV3Config parseOk(const std::string &text) {
  auto c = parseDeepseekV3Config(text);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DeepseekV3Config{};
}

/// The published config with one field replaced (or removed, for null).
std::string withField(const std::string &key, const nlohmann::json &value) {
  nlohmann::json j = nlohmann::json::parse(kPublished);
  j[key] = value;
  return j.dump();
}

void expectError(const std::string &text, const std::string &field,
                 const std::string &value = "") {
  auto c = parseDeepseekV3Config(text);
  ASSERT_FALSE(c.ok()) << "accepted a config with bad '" << field << "'";
  std::string message(c.status().message());
  EXPECT_NE(message.find(field), std::string::npos) << message;
  if (!value.empty())
    EXPECT_NE(message.find(value), std::string::npos) << message;
}

TEST(DeepseekConfig, TransformersFiveSpelling) {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocabSize, 64);
  EXPECT_EQ(c->hiddenSize, 32);
  EXPECT_EQ(c->numHiddenLayers, 3);
  EXPECT_EQ(c->firstKDenseReplace, 1);
  ASSERT_TRUE(c->qLoraRank.has_value());
  EXPECT_EQ(*c->qLoraRank, 24);
  EXPECT_EQ(c->kvLoraRank, 16);
  EXPECT_EQ(c->nRoutedExperts, 8);
  EXPECT_EQ(c->nGroup, 4);
  EXPECT_EQ(c->topkGroup, 2);
  EXPECT_TRUE(c->ropeInterleave);
  EXPECT_EQ(c->ropeTheta, 10000.0);
  ASSERT_TRUE(c->yarn.has_value());
  EXPECT_EQ(c->yarn->factor, 4.0);
  EXPECT_EQ(c->yarn->originalMaxPositionEmbeddings, 4096);
  EXPECT_EQ(c->yarn->mscaleAllDim, 0.8);
  EXPECT_EQ(c->numNextnPredictLayers, 1);
}

TEST(DeepseekConfig, PublishedSpellingMeansTheSameModel) {
  auto fixture = readDeepseekV3Config(kFixtures + "config.json");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  DeepseekV3Config published = parseOk(kPublished);
  EXPECT_EQ(published.toJson(), fixture->toJson());
  // And Kiln's own spelling reads back to the same.
  EXPECT_EQ(parseOk(fixture->toJson()).toJson(), fixture->toJson());
}

TEST(DeepseekConfig, NullableAndDefaultedFields) {
  DeepseekV3Config c = parseOk(withField("q_lora_rank", nullptr));
  EXPECT_FALSE(c.qLoraRank.has_value());
  c = parseOk(withField("num_key_value_heads", nullptr));
  EXPECT_EQ(c.numKeyValueHeads, 4);
  c = parseOk(withField("rope_scaling", nullptr));
  EXPECT_FALSE(c.yarn.has_value());
  EXPECT_EQ(attentionSoftmaxScale(c), 0.25);
}

TEST(DeepseekConfig, UnsupportedValuesNameTheField) {
  expectError(withField("hidden_act", "gelu"), "hidden_act", "gelu");
  expectError(withField("scoring_func", "softmax"), "scoring_func", "softmax");
  expectError(withField("topk_method", "greedy"), "topk_method", "greedy");
  expectError(withField("attention_bias", true), "attention_bias", "true");
  expectError(withField("num_key_value_heads", 2), "num_key_value_heads", "2");
  expectError(withField("moe_layer_freq", 2), "moe_layer_freq", "2");
  expectError(withField("model_type", "llama"), "model_type", "llama");
  expectError(withField("quantization_config", {{"quant_method", "fp8"}}),
              "quantization_config", "fp8");
  expectError(withField("rope_scaling", {{"type", "linear"}, {"factor", 2}}),
              "rope_scaling.rope_type", "linear");
  expectError(withField("n_group", 3), "n_group", "3");
  expectError(withField("hidden_size", "wide"), "hidden_size", "wide");
  nlohmann::json v5 = nlohmann::json::parse(kPublished);
  v5["rope_parameters"] = {{"rope_type", "yarn"},
                           {"rope_theta", 10000},
                           {"factor", 4},
                           {"beta_fast", 32},
                           {"original_max_position_embeddings", 4096},
                           {"low_freq_factor", 1}};
  v5.erase("rope_scaling");
  expectError(v5.dump(), "rope_parameters.low_freq_factor");
}

// Hostile and careless values: nesting that overflows a recursive walk,
// non-finite numbers (1e999 reads as infinity), integers past int64, a
// negative yarn factor (once silently replaced by the derived one), sizes
// whose products wrap, and repeated keys.
TEST(DeepseekConfig, HostileValuesAreErrorsNamingTheField) {
  expectError("{\"x\": " + std::string(200000, '[') + std::string(200000, ']') +
                  "}",
              "nesting deeper than");
  expectError(R"({"hidden_size": 1, "hidden_size": 2})",
              "\"hidden_size\" appears twice");
  std::string text = withField("rms_norm_eps", 0.5);
  text.replace(text.find("0.5"), 3, "1e999");
  expectError(text, "number overflow");
  // NaN cannot be spelled in JSON, but configs are built in code too.
  DeepseekV3Config nan = parseOk(kPublished);
  nan.rmsNormEps = std::nan("");
  EXPECT_NE(nan.validate().message().find("rms_norm_eps"), std::string::npos)
      << nan.validate();
  nan = parseOk(kPublished);
  nan.routedScalingFactor = INFINITY;
  EXPECT_NE(nan.validate().message().find("routed_scaling_factor"),
            std::string::npos)
      << nan.validate();
  text = withField("hidden_size", 12345);
  text.replace(text.find("12345"), 5, "18446744073709551615");
  expectError(text, "hidden_size", "18446744073709551615");
  nlohmann::json v5 = nlohmann::json::parse(kPublished);
  v5["rope_scaling"]["factor"] = -40;
  expectError(v5.dump(), "rope_scaling.factor", "-40");
  v5["rope_scaling"]["factor"] = 0;
  expectError(v5.dump(), "rope_scaling.factor", "positive");
  expectError(withField("hidden_size", int64_t{1} << 40), "hidden_size",
              "beyond");
  nlohmann::json huge = nlohmann::json::parse(kPublished);
  huge["hidden_size"] = int64_t{1} << 31;
  huge["moe_intermediate_size"] = int64_t{1} << 31;
  expectError(huge.dump(), "parameters, more than");
  expectError(withField("model_type", std::string(1 << 20, 'x')), "model_type",
              "more bytes");
  // Sizes that parse but would not fit in memory are refused before any
  // allocation, saying how much they need.
  DeepseekV3Config big = parseOk(withField("num_hidden_layers", 100000000));
  absl::Status fit = big.checkFitsInMemory(20, 0, "the model");
  EXPECT_TRUE(absl::IsResourceExhausted(fit)) << fit;
  EXPECT_NE(fit.message().find("the model needs"), std::string::npos) << fit;
  EXPECT_NE(fit.message().find("GiB"), std::string::npos) << fit;
}

TEST(DeepseekConfig, UnknownFieldsAreErrorsUnlessKnownIrrelevant) {
  expectError(withField("sliding_window", 4096), "sliding_window");
  for (const std::string &field : ignoredDeepseekV3ConfigFields())
    parseOk(withField(field, 7));
}

TEST(DeepseekConfig, RopeNumbersMatchTransformers) {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  auto ref = readSafetensors(kFixtures + "reference.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status();
  std::vector<double> want = ref->tensors.at("inv_freq").toDoubles();
  std::vector<float> got = ropeInvFreq(*c);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(static_cast<double>(got[i]), want[i]) << "inv_freq " << i;
  EXPECT_NEAR(ropeAttentionFactor(*c),
              ref->tensors.at("attention_factor").toDoubles()[0], 1e-6);
  EXPECT_NEAR(attentionSoftmaxScale(*c),
              ref->tensors.at("softmax_scale").toDoubles()[0], 1e-6);
}

} // namespace
} // namespace kiln::models
