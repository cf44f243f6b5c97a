//===- ClipTest.cpp - clipByGlobalNorm against clip_grad_norm_'s rule -----===//

#include "frontend/optim/Clip.h"

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using namespace testing;

TEST(Clip, NormAndClippedGradientsMatchTheReference) {
  const double maxNorm = 1.5;
  struct Grad {
    Shape shape;
    DType dtype;
  };
  std::vector<Grad> shapes = {
      {{3, 4}, DType::f32}, {{5}, DType::f32}, {{2, 3}, DType::bf16}};
  Graph graph("clip");
  Function &f = graph.function("clip");
  std::vector<Tensor> grads;
  for (size_t i = 0; i < shapes.size(); ++i)
    grads.push_back(
        f.input("g" + std::to_string(i), shapes[i].shape, shapes[i].dtype));
  auto [clipped, norm] = clipByGlobalNorm(grads, maxNorm);
  ASSERT_EQ(clipped.size(), grads.size());
  for (size_t i = 0; i < clipped.size(); ++i) {
    EXPECT_EQ(clipped[i].dtype(), shapes[i].dtype);
    f.output("c" + std::to_string(i), clipped[i]);
  }
  EXPECT_EQ(norm.dtype(), DType::f32);
  EXPECT_EQ(norm.rank(), 0);
  f.output("norm", norm);
  auto exe = load(graph);
  ASSERT_TRUE(exe);

  std::mt19937_64 rng(3);
  // A large spread clips; a tiny one leaves the gradients as they are.
  for (double stddev : {1.0, 0.01}) {
    SCOPED_TRACE("stddev " + std::to_string(stddev));
    std::vector<HostTensor> inputs;
    std::vector<std::vector<double>> g;
    double sumSq = 0;
    for (const Grad &s : shapes) {
      Sample sample = randomTensor(rng, s.dtype, s.shape, stddev);
      inputs.push_back(sample.tensor);
      g.push_back(sample.values);
      for (double x : sample.values)
        sumSq += x * x;
    }
    double refNorm = std::sqrt(sumSq);
    double scale = std::min(maxNorm / (refNorm + 1e-6), 1.0);
    EXPECT_EQ(scale < 1, stddev == 1.0) << "the case tests what it says";
    auto out = exe->run("clip", inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), 4u);
    EXPECT_NEAR((*out)[3].toDoubles()[0], refNorm, 1e-6 * refNorm);
    for (size_t i = 0; i < shapes.size(); ++i) {
      std::vector<double> c = (*out)[i].toDoubles();
      if (scale == 1) {
        EXPECT_EQ(c, g[i]) << "unclipped gradients pass through exactly";
        continue;
      }
      std::vector<double> expected;
      for (double x : g[i])
        expected.push_back(x * scale);
      // bf16 outputs round once; allow that rounding on top of f32's.
      double rtol = shapes[i].dtype == DType::bf16 ? std::ldexp(1.0, -8) : 1e-6;
      expectClose(c, expected, rtol, "c" + std::to_string(i));
    }
  }
}

TEST(Clip, EmptyListIsEmpty) {
  auto [clipped, norm] = clipByGlobalNorm({}, 1.0);
  EXPECT_TRUE(clipped.empty());
  EXPECT_FALSE(norm.valid());
}

} // namespace
} // namespace kiln::optim
