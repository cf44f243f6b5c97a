//===- InferenceNames.h - DeepSeek inference graph names        -*- C++ -*-===//
//
// Entry, argument, result and cache-state names shared by the graph builders
// (DeepseekInference.h, frontend) and the host loop (Generate.h, executor
// only), so neither has to include the other's side.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_INFERENCENAMES_H
#define KILN_MODELS_DEEPSEEK_INFERENCENAMES_H

#include <cstdint>
#include <string>

namespace kiln::models::inference {

inline constexpr const char *kPrefill = "prefill";
inline constexpr const char *kDecode = "decode";

// Inputs. prefill: tokens [B, S] i64 (right-padded), lengths [B] i64.
// decode: tokens [B] i64, positions [B] i64 (the cache slot of that token;
// a slot outside [0, maxLen) is written nowhere, for idle rows).
inline constexpr const char *kTokens = "tokens";
inline constexpr const char *kLengths = "lengths";
inline constexpr const char *kPositions = "positions";
// Sampling, both entries, all [B]: temperature f32 (<= 0: greedy), top_k i64
// (<= 0: off), top_p f32 (>= 1: off), seed i64, step i64 (how many tokens the
// sequence has generated before this one).
inline constexpr const char *kTemperature = "temperature";
inline constexpr const char *kTopK = "top_k";
inline constexpr const char *kTopP = "top_p";
inline constexpr const char *kSeed = "seed";
inline constexpr const char *kStep = "step";
// Optional (graphs built with InferenceShape::logitMask, as kiln-serve's):
// logit_mask [B, V] f32, added to the logits before sampling: 0 keeps a token,
// -inf forbids it (serving's constrained decoding, serving/TokenMasks.h). The
// logits result stays the model's own.
inline constexpr const char *kLogitMask = "logit_mask";
// Optional (graphs built with InferenceShape::minP, as kiln-train's): min_p
// [B] f32, min-p sampling (transformers' MinPLogitsWarper): after
// temperature, tokens less likely than min_p times the most likely one are
// dropped; 0 keeps every token.
inline constexpr const char *kMinP = "min_p";

// Results: logits [B, V] f32 of each sequence's last valid position, and the
// token sampled from them, [B] i64.
inline constexpr const char *kLogits = "logits";
inline constexpr const char *kNextToken = "next_token";

/// The cache state of one layer: the normed latent c_kv [B, maxLen,
/// kv_lora_rank] and the rotated shared key k_pe [B, maxLen, rope_dim].
inline std::string latentCacheName(int64_t layer) {
  return "cache.layers." + std::to_string(layer) + ".kv_latent";
}
inline std::string ropeKeyCacheName(int64_t layer) {
  return "cache.layers." + std::to_string(layer) + ".k_rope";
}

} // namespace kiln::models::inference

#endif // KILN_MODELS_DEEPSEEK_INFERENCENAMES_H
