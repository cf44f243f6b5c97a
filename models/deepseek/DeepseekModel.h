//===- DeepseekModel.h - the DeepSeek-V3 causal language model -*- C++ -*-===//
//
// transformers' DeepseekV3ForCausalLM written in the frontend: embedding,
// pre-norm decoder layers (MLA attention; dense MLP for the first
// first_k_dense_replace layers, MoE after), final norm and LM head. State
// names are Hugging Face's, with each MoE layer's experts stacked
// (models/deepseek/HfCheckpoint.h maps them).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKMODEL_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKMODEL_H

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "frontend/Kiln.h"
#include "models/deepseek/DeepseekAttention.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/deepseek/DeepseekMoe.h"

namespace kiln::models {

class DeepseekV3Model {
public:
  /// Creates every state entry in `graph`; `seed` seeds the initialisers
  /// (weights are normally loaded from a checkpoint instead).
  DeepseekV3Model(Graph &graph, const DeepseekV3Config &config,
                  DType dtype = DType::f32, int64_t seed = 0);

  /// inputIds [B, S] i64 at positions 0..S-1, causal -> logits [B, S, vocab]
  /// in the model dtype.
  Tensor logits(Function &fn, const Tensor &inputIds) const;
  /// The hidden states after the final norm, [B, S, H].
  Tensor hidden(Function &fn, const Tensor &inputIds) const;

  /// Computes one layer's attention output [B, S, H] from its normed input:
  /// how inference graphs bring their own positions and KV cache.
  using AttendFn = std::function<Tensor(int64_t layer, const MlaAttention &,
                                        const Tensor &normed)>;
  /// hidden() with the attention supplied by the caller.
  Tensor hidden(Function &fn, const Tensor &inputIds,
                const AttendFn &attend) const;
  /// hidden() that also appends each MoE layer's routing to `routing`, in
  /// layer order (training graphs balance the load with it).
  Tensor hidden(Function &fn, const Tensor &inputIds,
                std::vector<MoeRoutingStats> &routing) const;
  /// The MoE block of `layer`, or null for a dense layer.
  const MoeLayer *moe(int64_t layer) const;
  /// The LM head on final-normed hidden states [..., H] -> [..., vocab].
  Tensor head(Function &fn, const Tensor &hidden) const;

  const DeepseekV3Config &config() const { return cfg; }
  /// The dtype of weights and activations.
  DType modelDtype() const { return dtype; }

private:
  Tensor hiddenImpl(Function &fn, const Tensor &inputIds,
                    const AttendFn &attend,
                    std::vector<MoeRoutingStats> *routing) const;

  struct Layer {
    nn::RMSNorm inputNorm, postAttentionNorm;
    MlaAttention attention;
    std::optional<SwiGluMlp> dense;
    std::optional<MoeLayer> moe;
  };

  DeepseekV3Config cfg;
  DType dtype;
  nn::Embedding embed;
  std::vector<std::unique_ptr<Layer>> layers;
  nn::RMSNorm finalNorm;
  std::optional<nn::Linear> lmHead;
};

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKMODEL_H
