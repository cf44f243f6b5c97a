//===- GroupAdvantagesTest.cpp - in-graph advantages equal the host reference -===//

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/grpo/Advantages.h"
#include "models/grpo/GroupAdvantages.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

TEST(GroupAdvantages, MatchTheHostReferenceForEveryScaling) {
  // Three groups of four: a mixed group, a flat group, a mixed group; then one
  // padding group (valid 0) that must get zeros and stay out of batch statistics.
  const int64_t g = 4;
  std::vector<double> rewards{1.1, 0.1, 0.0, 1.1, 0.1, 0.1, 0.1, 0.1,
                              0.0, 1.0, 0.1, 0.0, 7.0, 7.0, 3.0, 5.0};
  std::vector<double> valid(12, 1.0);
  valid.resize(16, 0.0);
  for (ScaleRewards scale : {ScaleRewards::group, ScaleRewards::batch, ScaleRewards::none}) {
    Graph graph("adv");
    Function &f = graph.function("main");
    Tensor r = f.input("rewards", {16}, DType::f32);
    Tensor v = f.input("valid", {16}, DType::f32);
    f.output("advantages", groupAdvantages(r, v, g, scale));
    auto module = graph.build();
    ASSERT_TRUE(module.ok()) << module.status();
    auto exe = codegen::compile(*module);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto executor = Executor::create(*exe);
    ASSERT_TRUE(executor.ok());
    HostTensor rt = HostTensor::fromDoubles(proto::F32, {16}, rewards);
    auto out = (*executor)->run("main", {rt, HostTensor::fromDoubles(proto::F32, {16}, valid)});
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<double> got = (*out)[0].toDoubles();

    // The host reference sees only the valid rows, at f32 precision.
    std::vector<double> asF32 = rt.toDoubles();
    asF32.resize(12);
    auto want = computeAdvantages(asF32, g, scale);
    ASSERT_TRUE(want.ok()) << want.status();
    for (int i = 0; i < 12; ++i)
      EXPECT_NEAR(got[i], want->advantages[i], 2e-3 * std::max(1.0, std::abs(want->advantages[i])))
          << scaleRewardsName(scale) << " row " << i;
    for (int i = 4; i < 8; ++i)
      EXPECT_EQ(got[i], 0.0) << "a flat group gets exactly zero";
    for (int i = 12; i < 16; ++i)
      EXPECT_EQ(got[i], 0.0) << "padding rows get zero";
  }
}

} // namespace
} // namespace kiln::models
