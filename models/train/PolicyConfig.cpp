//===- PolicyConfig.cpp - the DeepSeek-V3 config of kiln-train's policy ---===//

#include "models/train/PolicyConfig.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "models/tokenizer/ByteTokenizer.h"

namespace kiln::train {

absl::StatusOr<models::DeepseekV3Config>
policyConfig(const TrainConfig &config) {
  const ModelConfig &m = config.model();
  if (m.has_hf_checkpoint()) {
    std::string path =
        (std::filesystem::path(m.hf_checkpoint()) / "config.json").string();
    if (!std::filesystem::exists(path))
      return absl::NotFoundError(absl::StrCat(
          "model.hf_checkpoint '", m.hf_checkpoint(), "' has no config.json"));
    return models::readDeepseekV3Config(path);
  }
  models::DeepseekV3Config c;
  c.vocabSize = tokenizer::ByteTokenizer::kVocabSize;
  c.hiddenSize = m.hidden_size();
  c.intermediateSize = m.intermediate_size();
  c.moeIntermediateSize = m.moe_intermediate_size();
  c.numHiddenLayers = m.num_hidden_layers();
  c.firstKDenseReplace = m.first_k_dense_replace();
  c.numAttentionHeads = m.num_attention_heads();
  c.numKeyValueHeads = m.num_attention_heads();
  c.qLoraRank = m.q_lora_rank() > 0 ? std::optional<int64_t>(m.q_lora_rank())
                                    : std::nullopt;
  c.kvLoraRank = m.kv_lora_rank();
  c.qkNopeHeadDim = m.qk_nope_head_dim();
  c.qkRopeHeadDim = m.qk_rope_head_dim();
  c.vHeadDim = m.v_head_dim();
  c.yarn.reset();
  c.nRoutedExperts = m.n_routed_experts();
  c.numExpertsPerTok = m.num_experts_per_tok();
  c.nSharedExperts = m.n_shared_experts();
  c.nGroup = 1;
  c.topkGroup = 1;
  c.routedScalingFactor = 1.0;
  c.maxPositionEmbeddings = m.max_position_embeddings();
  return c;
}

} // namespace kiln::train
