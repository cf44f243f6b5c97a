//===- ErrorsTest.cpp - misuse of the optimizers becomes a sticky error ---===//

#include "frontend/optim/Optim.h"

#include <gmock/gmock.h>

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(OptimErrors, GradientCountMismatchNamesTheOptimizerAndLine) {
  Graph graph;
  State a = graph.parameter("a", {2}, DType::f32, init::ones());
  State b = graph.parameter("b", {2}, DType::f32, init::ones());
  AdamW opt(graph, {a, b});
  Function &f = graph.function("train");
  int line = __LINE__ + 1;
  opt.step(f, {f.input("g", {2}, DType::f32)}, 0.1);
  ASSERT_FALSE(graph.status().ok());
  std::string m(graph.status().message());
  EXPECT_THAT(m, HasSubstr("ErrorsTest.cpp:" + std::to_string(line)));
  EXPECT_THAT(m, HasSubstr("AdamW: 1 gradients for 2 parameters"));
  // Recorded as the optimizer's own error, not as another message's field.
  EXPECT_THAT(m, HasSubstr("ErrorsTest.cpp:" + std::to_string(line) +
                           ": AdamW: 1 gradients for 2 parameters"));
  EXPECT_THAT(m, Not(HasSubstr("input named")));
}

TEST(OptimErrors, GradientShapeMismatch) {
  Graph graph;
  State a = graph.parameter("a", {2}, DType::f32, init::ones());
  SGD opt(graph, {a});
  Function &f = graph.function("train");
  opt.step(f, {f.input("g", {3}, DType::f32)}, 0.1);
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("the gradient of 'a' has another shape"));
}

TEST(OptimErrors, NesterovNeedsMomentum) {
  Graph graph;
  State a = graph.parameter("a", {2}, DType::f32, init::ones());
  SgdOptions options;
  options.nesterov = true;
  SGD opt(graph, {a}, options);
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("nesterov momentum requires"));
}

TEST(OptimErrors, IntegerParameters) {
  Graph graph;
  State a =
      graph.state("a", {2}, DType::i32, init::ones(), StateKind::parameter);
  AdamW opt(graph, {a});
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("parameter 'a' is i32"));
}

TEST(OptimErrors, TwoStepsInOneEntry) {
  Graph graph;
  State a = graph.parameter("a", {2}, DType::f32, init::ones());
  SGD opt(graph, {a});
  Function &f = graph.function("train");
  Tensor g = f.input("g", {2}, DType::f32);
  opt.step(f, {g}, 0.1);
  EXPECT_TRUE(graph.status().ok());
  opt.step(f, {g}, 0.1);
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("already updates state"));
}

TEST(OptimErrors, TwoOptimizersNeedTwoCounters) {
  Graph graph;
  State a = graph.parameter("a", {2}, DType::f32, init::ones());
  State b = graph.parameter("b", {2}, DType::f32, init::ones());
  AdamW adam(graph, {a});
  SgdOptions options;
  options.stepName = "optim.sgd_step";
  SGD sgd(graph, {b}, options);
  EXPECT_TRUE(graph.status().ok()) << graph.status();
  SGD clash(graph, {b});
  EXPECT_THAT(std::string(graph.status().message()),
              HasSubstr("'optim.step' is already declared"));
}

} // namespace
} // namespace kiln::optim
