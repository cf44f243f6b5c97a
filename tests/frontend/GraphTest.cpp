// Graph construction: entry signatures, the kiln.name / kiln.state contract
// with the code generator, the module's state table, and operator sugar.

#include "frontend/Kiln.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string built(Graph &g) {
  absl::StatusOr<IrModule> module = g.build();
  EXPECT_TRUE(module.ok()) << module.status();
  return module.ok() ? module->str() : "";
}

TEST(Graph, AddBuildsVerifiedModuleWithNamedArgumentsAndResults) {
  Graph g("toy");
  Function &f = g.function("forward");
  Tensor x = f.input("x", {2, 3}, DType::f32);
  Tensor y = f.input("y", {2, 3}, DType::f32);
  Tensor z = x + y;
  EXPECT_TRUE(z.valid());
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), DType::f32);
  f.output("z", z);
  ASSERT_TRUE(g.status().ok()) << g.status();
  std::string ir = built(g);
  EXPECT_THAT(ir, HasSubstr("module @toy"));
  EXPECT_THAT(
      ir, HasSubstr("func.func @forward(%arg0: tensor<2x3xf32> {kiln.name = "
                    "\"x\"}, %arg1: tensor<2x3xf32> {kiln.name = \"y\"}) -> "
                    "(tensor<2x3xf32> {kiln.name = \"z\"})"));
  EXPECT_THAT(ir, HasSubstr("kiln.add %arg0, %arg1"));
  EXPECT_THAT(ir, HasSubstr("return"));
}

TEST(Graph, OpsCarryTheCallersSourceLocation) {
  Graph g;
  Function &f = g.function("f");
  Tensor x = f.input("x", {4}, DType::f32);
  int line = __LINE__ + 1;
  Tensor y = exp(x);
  f.output("y", y);
  absl::StatusOr<IrModule> module = g.build();
  ASSERT_TRUE(module.ok()) << module.status();
  std::string ir = module->str(/*withLocations=*/true);
  EXPECT_THAT(ir, HasSubstr("GraphTest.cpp\":" + std::to_string(line) + ":"));
}

TEST(Graph, StateIsReadOnceAndUpdatedAsDonatedResult) {
  Graph g("model");
  State w = g.parameter("w", {4, 4}, DType::f32, init::normal(0.02, 7));
  State m = g.state("adam.m.w", {4, 4}, DType::f32, init::zeros(),
                    StateKind::optimizer);
  State c = g.state("cache", {2}, DType::bf16, init::none(), StateKind::cache);
  EXPECT_EQ(w.name(), "w");
  EXPECT_EQ(m.kind(), StateKind::optimizer);
  EXPECT_EQ(c.dtype(), DType::bf16);

  Function &train = g.function("train");
  Tensor x = train.input("x", {3, 4}, DType::f32);
  Tensor wv = train.read(w);
  Tensor again = train.read(w);
  Tensor y = matmul(x, wv) + matmul(x, again);
  train.output("loss", y.sum({0, 1}));
  train.update(w, wv - 0.1 * wv);
  // `m` is updated without being read: it still becomes an argument.
  train.update(m, wv * 0.0);

  Function &infer = g.function("infer");
  EXPECT_EQ(&g.function("infer"), &infer);
  Tensor ix = infer.input("x", {3, 4}, DType::f32);
  infer.output("y", matmul(ix, infer.read(w)));

  std::string ir = built(g);
  EXPECT_THAT(
      ir, HasSubstr("func.func @train(%arg0: tensor<3x4xf32> {kiln.name = "
                    "\"x\"}, %arg1: tensor<4x4xf32> {kiln.state = \"w\"}, "
                    "%arg2: tensor<4x4xf32> {kiln.state = \"adam.m.w\"}) -> "
                    "(tensor<f32> {kiln.name = \"loss\"}, tensor<4x4xf32> "
                    "{kiln.state = \"w\"}, tensor<4x4xf32> {kiln.state = "
                    "\"adam.m.w\"})"));
  EXPECT_THAT(
      ir, HasSubstr("func.func @infer(%arg0: tensor<3x4xf32> {kiln.name = "
                    "\"x\"}, %arg1: tensor<4x4xf32> {kiln.state = \"w\"})"));
  EXPECT_THAT(
      ir, HasSubstr("kiln.state = [{a = 2.000000e-02 : f64, b = 0.000000e+00 "
                    ": f64, init = \"normal\", kind = \"parameter\", name = "
                    "\"w\", seed = 7 : i64, type = tensor<4x4xf32>}"));
  EXPECT_THAT(ir, HasSubstr("init = \"zeros\", kind = \"optimizer\", name = "
                            "\"adam.m.w\""));
  EXPECT_THAT(ir,
              HasSubstr("init = \"none\", kind = \"cache\", name = \"cache\", "
                        "seed = 0 : i64, type = tensor<2xbf16>}]"));
}

TEST(Graph, ScalarOperandsBecomeConstantsOfTheTensorsDtype) {
  Graph g;
  Function &f = g.function("f");
  Tensor x = f.input("x", {2}, DType::bf16);
  Tensor y = 2.0 * x + 1 - x / 4.0;
  Tensor i = f.input("i", {2}, DType::i32);
  Tensor mask = (i > 3) && !(i < 0);
  f.output("y", y);
  f.output("mask", mask);
  EXPECT_EQ(mask.dtype(), DType::i1);
  std::string ir = built(g);
  EXPECT_THAT(ir, HasSubstr("{value = dense<2.000000e+00> : tensor<bf16>}"));
  EXPECT_THAT(ir, HasSubstr("{value = dense<3> : tensor<i32>}"));
  EXPECT_THAT(ir, HasSubstr("kiln.logical_and"));
  EXPECT_THAT(ir, HasSubstr("kiln.logical_not"));
  EXPECT_THAT(ir, HasSubstr("kiln.greater"));
}

TEST(Graph, FluentMethodsAndAccessors) {
  Graph g;
  Function &f = g.function("f");
  Tensor x = f.input("x", {2, 3, 4}, DType::f32);
  EXPECT_EQ(x.rank(), 3);
  EXPECT_EQ(x.dim(-1), 4);
  EXPECT_EQ(x.dim(0), 2);
  EXPECT_EQ(x.function(), &f);
  Tensor y = x.reshape({-1, 4}).transpose({1, 0}).cast(DType::f16);
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(y.dtype(), DType::f16);
  Tensor m = x.mean({-1}, /*keepdims=*/true);
  EXPECT_EQ(m.shape(), (Shape{2, 3, 1}));
  Tensor acc = x;
  acc += x;
  acc *= x;
  f.output("y", y);
  f.output("m", m);
  f.output("acc", acc);
  std::string ir = built(g);
  EXPECT_THAT(ir, HasSubstr("kiln.reshape %arg0 {shape = array<i64: 6, 4>}"));
  EXPECT_THAT(ir, HasSubstr("perm = array<i64: 1, 0>"));
}

TEST(Graph, BuildOnlyOnce) {
  Graph g;
  g.function("f").output("x", g.function("f").input("x", {1}, DType::f32));
  ASSERT_TRUE(g.build().ok());
  absl::StatusOr<IrModule> again = g.build();
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr("already built"));
}

TEST(Graph, EntryWithoutOutputsIsValid) {
  Graph g("empty");
  g.function("noop");
  std::string ir = built(g);
  EXPECT_THAT(ir, HasSubstr("func.func @noop()"));
  EXPECT_THAT(ir, Not(HasSubstr("kiln.state = [{")));
}

} // namespace
} // namespace kiln
