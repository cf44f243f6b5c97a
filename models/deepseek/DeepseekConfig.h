//===- DeepseekConfig.h - a DeepSeek-V3 config.json, checked ----*- C++ -*-===//
//
// The hyperparameters of transformers' DeepseekV3ForCausalLM, read from a
// Hugging Face config.json in either rope spelling; a value Kiln cannot run
// exactly is an error that names the field, never a silent approximation.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_DEEPSEEK_DEEPSEEKCONFIG_H
#define KILN_MODELS_DEEPSEEK_DEEPSEEKCONFIG_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::models {

/// YaRN context extension (transformers' "yarn" rope type).
struct YarnScaling {
  double factor = 1.0;
  int64_t originalMaxPositionEmbeddings = 4096;
  double betaFast = 32.0;
  double betaSlow = 1.0;
  /// 0 means absent (transformers treats absent and 0 alike).
  double mscale = 0.0;
  double mscaleAllDim = 0.0;
  /// An explicit cos/sin factor; otherwise derived from the mscales.
  std::optional<double> attentionFactor;
  /// Round the correction range to whole dimensions (transformers' default).
  bool truncate = true;
};

struct DeepseekV3Config {
  int64_t vocabSize = 129280;
  int64_t hiddenSize = 7168;
  int64_t intermediateSize = 18432;
  int64_t moeIntermediateSize = 2048;
  int64_t numHiddenLayers = 61;
  int64_t firstKDenseReplace = 3;
  int64_t numAttentionHeads = 128;
  int64_t numKeyValueHeads = 128;
  /// Absent (null): queries come from one q_proj instead of the low-rank pair.
  std::optional<int64_t> qLoraRank = 1536;
  int64_t kvLoraRank = 512;
  int64_t qkNopeHeadDim = 128;
  int64_t qkRopeHeadDim = 64;
  int64_t vHeadDim = 128;
  double ropeTheta = 10000.0;
  /// Absent: plain rotary ("default" rope type).
  std::optional<YarnScaling> yarn;
  bool ropeInterleave = true;
  double rmsNormEps = 1e-6;
  int64_t nRoutedExperts = 256;
  int64_t numExpertsPerTok = 8;
  int64_t nSharedExperts = 1;
  int64_t nGroup = 8;
  int64_t topkGroup = 4;
  bool normTopkProb = true;
  double routedScalingFactor = 2.5;
  bool tieWordEmbeddings = false;
  int64_t maxPositionEmbeddings = 4096;
  /// Multi-token-prediction layers: stored in checkpoints, unused by the
  /// forward.
  int64_t numNextnPredictLayers = 0;

  int64_t qkHeadDim() const { return qkNopeHeadDim + qkRopeHeadDim; }
  bool isMoeLayer(int64_t layer) const { return layer >= firstKDenseReplace; }

  /// Cross-field checks (divisibility, ranges); parse() runs it too.
  absl::Status validate() const;

  /// Parameters the model holds (what deepseekStateEntries lists), counted in
  /// floating point so that absurd sizes cannot wrap.
  double parameterCount() const;
  /// OK, or a ResourceExhausted error "<what> needs X GiB ..." when
  /// `bytesPerParameter` per parameter plus `extraBytes` exceed this
  /// machine's memory: checked before anything is allocated.
  absl::Status checkFitsInMemory(double bytesPerParameter, double extraBytes,
                                 const std::string &what) const;
  /// transformers 5 spelling: rope_parameters with rope_theta inside.
  std::string toJson() const;
};

/// Parses config.json text. `source` names the file in error messages.
absl::StatusOr<DeepseekV3Config>
parseDeepseekV3Config(const std::string &jsonText,
                      const std::string &source = "config.json");
absl::StatusOr<DeepseekV3Config> readDeepseekV3Config(const std::string &path);

/// Fields that a config.json may carry and that change nothing Kiln computes.
const std::vector<std::string> &ignoredDeepseekV3ConfigFields();

} // namespace kiln::models

#endif // KILN_MODELS_DEEPSEEK_DEEPSEEKCONFIG_H
