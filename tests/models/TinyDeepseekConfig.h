//===- TinyDeepseekConfig.h - a DeepSeek-V3 model that compiles in seconds ===//
//
// Two layers with MoE (a shared expert, 4 routed experts in 2 groups), one
// q_proj, plain rope without interleaving, tied embeddings, d = 24: the tests
// that build and run the whole model on random weights share it.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_MODELS_TINYDEEPSEEKCONFIG_H
#define KILN_TESTS_MODELS_TINYDEEPSEEKCONFIG_H

#include "models/deepseek/DeepseekConfig.h"

namespace kiln::testing {

/// The tiny model, dense in its first `denseLayers` layers (0 or 1).
inline models::DeepseekV3Config tinyDeepseekConfig(int denseLayers) {
  models::DeepseekV3Config c;
  c.vocabSize = 40;
  c.hiddenSize = 24;
  c.intermediateSize = 32;
  c.moeIntermediateSize = 12;
  c.numHiddenLayers = 2;
  c.firstKDenseReplace = denseLayers;
  c.numAttentionHeads = 3;
  c.numKeyValueHeads = 3;
  c.qLoraRank.reset();
  c.kvLoraRank = 12;
  c.qkNopeHeadDim = 6;
  c.qkRopeHeadDim = 4;
  c.vHeadDim = 5;
  c.yarn.reset();
  c.ropeInterleave = false;
  c.nRoutedExperts = 4;
  c.numExpertsPerTok = 2;
  c.nGroup = 2;
  c.topkGroup = 1;
  c.tieWordEmbeddings = true;
  return c;
}

} // namespace kiln::testing

#endif // KILN_TESTS_MODELS_TINYDEEPSEEKCONFIG_H
