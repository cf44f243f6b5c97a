//===- DeepseekRope.h - rotary frequencies, YaRN and softmax scale -*- C++
//-*-===//
//
// The host-side numbers of DeepSeek-V3's positions, as transformers 5.17
// computes them: inverse frequencies (default or YaRN-blended), the factor it
// multiplies cos/sin by, and the attention softmax scale with YaRN's mscale².
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKROPE_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKROPE_H

#include <vector>

#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

/// qk_rope_head_dim / 2 inverse frequencies, rounded to f32 as torch holds
/// them.
std::vector<float> ropeInvFreq(const DeepseekV3Config &config);
/// transformers' `attention_scaling`: cos and sin are multiplied by it.
double ropeAttentionFactor(const DeepseekV3Config &config);
/// qk_head_dim^-0.5, times yarn_get_mscale(factor, mscale_all_dim)² under
/// YaRN.
double attentionSoftmaxScale(const DeepseekV3Config &config);

/// cos and sin of positions 0..seqLen-1, row-major [seqLen, rope_dim / 2],
/// each already multiplied by the attention factor, in f32 arithmetic as
/// transformers evaluates them.
struct RopeTables {
  std::vector<double> cos, sin;
};
RopeTables ropeTables(const DeepseekV3Config &config, int64_t seqLen);

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKROPE_H
