//===- GrpoHostTest.cpp - GRPO's host-side shaping and pass@k by hand -----===//
//
// DAPO's overlong punishment as verl computes it, the KL summed into the
// reward (verl's apply_kl_penalty) for each estimator, and the Codex paper's
// unbiased pass@k, each against values worked by hand.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <limits>

#include "models/grpo/PassAtK.h"
#include "models/grpo/RewardShaping.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

TEST(OverlongPenalty, LinearInTheBufferAsVerlComputesIt) {
  // max 20, buffer 8: expected length 12. Up to 12 tokens nothing; 16 is
  // half into the buffer: -0.5 * factor; 20 (the limit): -factor.
  EXPECT_EQ(overlongPenalty(5, 20, 8, 1.0), 0.0);
  EXPECT_EQ(overlongPenalty(12, 20, 8, 1.0), 0.0);
  EXPECT_DOUBLE_EQ(overlongPenalty(13, 20, 8, 1.0), -1.0 / 8);
  EXPECT_DOUBLE_EQ(overlongPenalty(16, 20, 8, 1.0), -0.5);
  EXPECT_DOUBLE_EQ(overlongPenalty(20, 20, 8, 1.0), -1.0);
  EXPECT_DOUBLE_EQ(overlongPenalty(20, 20, 8, 0.5), -0.5);
  // The whole length as buffer: -length / max * factor.
  EXPECT_DOUBLE_EQ(overlongPenalty(6, 24, 24, 2.0), -0.5);
  // Off.
  EXPECT_EQ(overlongPenalty(20, 20, 0, 1.0), 0.0);
}

TEST(SequenceKl, SumsTheMaskedTokensOfEachRow) {
  // Two rows of three; d = ref - logp. Row 0: d = ln 2 and -ln 2 counted,
  // the third masked (holding -inf). Row 1: d = 0.5, counted with weight 1.
  const float inf = std::numeric_limits<float>::infinity();
  const double ln2 = std::log(2.0);
  std::vector<float> logp = {0.0f, static_cast<float>(ln2), -inf, -1.0f, 0.0f,
                             0.0f};
  std::vector<float> ref = {
      static_cast<float>(ln2), 0.0f, 3.0f, -0.5f, 0.0f, 0.0f};
  std::vector<float> mask = {1, 1, 0, 1, 0, 0};
  struct Case {
    KlEstimator estimator;
    double row0, row1;
  };
  float d0 = static_cast<float>(ln2); // as the f32 inputs hold it
  for (const Case &c :
       {Case{KlEstimator::k1, -d0 + d0, -0.5},
        Case{KlEstimator::k2, 0.5 * d0 * d0 * 2, 0.125},
        // k3: (2 - ln 2 - 1) + (1/2 + ln 2 - 1) = 1/2; exp(0.5) - 1.5.
        Case{KlEstimator::k3, 0.5, std::exp(0.5) - 1.5}}) {
    auto sums = sequenceKl(logp, ref, mask, 3, c.estimator);
    ASSERT_TRUE(sums.ok()) << sums.status();
    ASSERT_EQ(sums->size(), 2u);
    EXPECT_NEAR((*sums)[0], c.row0, 1e-7) << klEstimatorName(c.estimator);
    EXPECT_NEAR((*sums)[1], c.row1, 1e-7) << klEstimatorName(c.estimator);
  }
  EXPECT_FALSE(sequenceKl(logp, ref, {1, 1}, 3, KlEstimator::k3).ok());
  // A counted token with no log-probability is an error, not a NaN reward.
  mask[2] = 1;
  auto bad = sequenceKl(logp, ref, mask, 3, KlEstimator::k3);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("row 0 position 2"), std::string::npos)
      << bad.status();
}

TEST(PassAtK, TheUnbiasedEstimatorByHand) {
  // n = 4 samples, c = 1 right: pass@1 = 1/4, pass@2 = 1 - C(3,2)/C(4,2) =
  // 1 - 3/6 = 1/2, pass@4 = 1.
  EXPECT_DOUBLE_EQ(*passAtK(4, 1, 1), 0.25);
  EXPECT_DOUBLE_EQ(*passAtK(4, 1, 2), 0.5);
  EXPECT_DOUBLE_EQ(*passAtK(4, 1, 4), 1.0);
  // n = 5, c = 2: pass@2 = 1 - C(3,2)/C(5,2) = 1 - 3/10; pass@1 = c / n.
  EXPECT_NEAR(*passAtK(5, 2, 2), 0.7, 1e-15);
  EXPECT_NEAR(*passAtK(5, 2, 1), 0.4, 1e-15);
  // None right, all right; n - c < k.
  EXPECT_EQ(*passAtK(8, 0, 3), 0.0);
  EXPECT_EQ(*passAtK(8, 8, 1), 1.0);
  EXPECT_EQ(*passAtK(8, 6, 3), 1.0);
  // Large n stays finite where binomials would overflow: n = 200, c = 1,
  // k = 100 gives k / n.
  EXPECT_NEAR(*passAtK(200, 1, 100), 0.5, 1e-12);
  EXPECT_FALSE(passAtK(4, 5, 1).ok());
  EXPECT_FALSE(passAtK(4, 1, 0).ok());
  EXPECT_FALSE(passAtK(4, 1, 5).ok());
}

} // namespace
} // namespace kiln::models
