//===- DeepseekRope.cpp - rotary frequencies, YaRN and softmax scale
//-------===//
//
// Mirrors transformers.modeling_rope_utils._compute_yarn_parameters (5.17):
// the float32 steps are done in float so the tables agree to the last bit
// where the libm calls do.
//
//===----------------------------------------------------------------------===//

#include "models/deepseek/DeepseekRope.h"

#include <algorithm>
#include <cmath>

namespace kiln::models {

namespace {

double yarnGetMscale(double scale, double mscale) {
  if (scale <= 1)
    return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

/// The (fractional) dimension whose wavelength makes `rotations` turns over
/// the original context.
double correctionDim(double rotations, double dim, double base,
                     double maxPositions) {
  return dim * std::log(maxPositions / (rotations * 2 * M_PI)) /
         (2 * std::log(base));
}

} // namespace

std::vector<float> ropeInvFreq(const DeepseekV3Config &c) {
  int64_t dim = c.qkRopeHeadDim, half = dim / 2;
  std::vector<float> inv(half);
  // torch: base ** (arange(0, dim, 2).float() / dim), all in float32.
  std::vector<float> posFreqs(half);
  for (int64_t i = 0; i < half; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
    posFreqs[i] = static_cast<float>(
        std::pow(static_cast<double>(static_cast<float>(c.ropeTheta)),
                 static_cast<double>(exponent)));
  }
  if (!c.yarn) {
    for (int64_t i = 0; i < half; ++i)
      inv[i] = 1.0f / posFreqs[i];
    return inv;
  }
  const YarnScaling &y = *c.yarn;
  double low = correctionDim(y.betaFast, dim, c.ropeTheta,
                             y.originalMaxPositionEmbeddings);
  double high = correctionDim(y.betaSlow, dim, c.ropeTheta,
                              y.originalMaxPositionEmbeddings);
  if (y.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high)
    high += 0.001; // transformers' guard against a zero-width ramp
  float factor = static_cast<float>(y.factor);
  for (int64_t i = 0; i < half; ++i) {
    float ramp = (static_cast<float>(i) - static_cast<float>(low)) /
                 (static_cast<float>(high) - static_cast<float>(low));
    ramp = std::clamp(ramp, 0.0f, 1.0f);
    float extrapolationFactor = 1.0f - ramp;
    float extrapolation = 1.0f / posFreqs[i];
    float interpolation = 1.0f / (factor * posFreqs[i]);
    inv[i] = interpolation * (1.0f - extrapolationFactor) +
             extrapolation * extrapolationFactor;
  }
  return inv;
}

double ropeAttentionFactor(const DeepseekV3Config &c) {
  if (!c.yarn)
    return 1.0;
  const YarnScaling &y = *c.yarn;
  if (y.attentionFactor)
    return *y.attentionFactor;
  if (y.mscale != 0 && y.mscaleAllDim != 0)
    return yarnGetMscale(y.factor, y.mscale) /
           yarnGetMscale(y.factor, y.mscaleAllDim);
  return yarnGetMscale(y.factor, 1.0);
}

double attentionSoftmaxScale(const DeepseekV3Config &c) {
  double scale = std::pow(static_cast<double>(c.qkHeadDim()), -0.5);
  if (c.yarn && c.yarn->mscaleAllDim != 0) {
    double m = yarnGetMscale(c.yarn->factor, c.yarn->mscaleAllDim);
    scale *= m * m;
  }
  return scale;
}

RopeTables ropeTables(const DeepseekV3Config &c, int64_t seqLen) {
  std::vector<float> inv = ropeInvFreq(c);
  float factor = static_cast<float>(ropeAttentionFactor(c));
  RopeTables t;
  int64_t half = static_cast<int64_t>(inv.size());
  t.cos.reserve(seqLen * half);
  t.sin.reserve(seqLen * half);
  for (int64_t pos = 0; pos < seqLen; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      float angle = inv[i] * static_cast<float>(pos);
      t.cos.push_back(static_cast<float>(std::cos(angle)) * factor);
      t.sin.push_back(static_cast<float>(std::sin(angle)) * factor);
    }
  return t;
}

} // namespace kiln::models
