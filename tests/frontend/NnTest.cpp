// nn layers: Hugging Face state names, shapes, initialisers, and forward ops.

#include "frontend/Kiln.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln {
namespace {

using ::testing::HasSubstr;

TEST(Nn, TinyModelHasHuggingFaceStateAndBuilds) {
  Graph g("tiny");
  nn::Embedding embed(g, "model.embed_tokens", 32, 8, DType::f32, 1);
  nn::RMSNorm norm(g, "model.norm", 8, 1e-6);
  nn::Linear proj(g, "model.layers.0.mlp.up_proj", 8, 16, /*bias=*/true,
                  DType::f32, 3);
  nn::Linear head(g, "lm_head", 16, 32);

  EXPECT_EQ(embed.weight().name(), "model.embed_tokens.weight");
  EXPECT_EQ(embed.weight().shape(), (Shape{32, 8}));
  EXPECT_EQ(norm.weight().name(), "model.norm.weight");
  EXPECT_EQ(norm.weight().shape(), (Shape{8}));
  EXPECT_EQ(proj.weight().name(), "model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(proj.weight().shape(), (Shape{16, 8}));
  ASSERT_TRUE(proj.bias().has_value());
  EXPECT_EQ(proj.bias()->name(), "model.layers.0.mlp.up_proj.bias");
  EXPECT_EQ(proj.bias()->shape(), (Shape{16}));
  EXPECT_FALSE(head.bias().has_value());
  EXPECT_EQ(head.weight().kind(), StateKind::parameter);

  Function &f = g.function("forward");
  Tensor ids = f.input("ids", {2, 5}, DType::i32);
  Tensor h = embed(f, ids);
  EXPECT_EQ(h.shape(), (Shape{2, 5, 8}));
  h = norm(h);
  h = silu(proj(f, h));
  EXPECT_EQ(h.shape(), (Shape{2, 5, 16}));
  Tensor logits = head(h);
  EXPECT_EQ(logits.shape(), (Shape{2, 5, 32}));
  f.output("logits", logits);
  // A rank-1 input goes through the same layer.
  Tensor v = proj(f, f.input("v", {8}, DType::f32));
  EXPECT_EQ(v.shape(), (Shape{16}));
  f.output("v", v);

  absl::StatusOr<IrModule> module = g.build();
  ASSERT_TRUE(module.ok()) << module.status();
  std::string ir = module->str();
  EXPECT_THAT(ir, HasSubstr("{kiln.state = \"model.embed_tokens.weight\"}"));
  EXPECT_THAT(ir, HasSubstr("kiln.gather"));
  EXPECT_THAT(ir, HasSubstr("kiln.rms_norm"));
  EXPECT_THAT(ir, HasSubstr("{transpose_a = false, transpose_b = true}"));
  EXPECT_THAT(ir,
              HasSubstr("init = \"normal\", kind = \"parameter\", name = "
                        "\"model.embed_tokens.weight\", seed = 1 : i64, type = "
                        "tensor<32x8xf32>"));
  EXPECT_THAT(ir, HasSubstr("init = \"ones\", kind = \"parameter\", name = "
                            "\"model.norm.weight\""));
  EXPECT_THAT(ir,
              HasSubstr("init = \"uniform\", kind = \"parameter\", name = "
                        "\"model.layers.0.mlp.up_proj.bias\", seed = 4 : i64"));
  EXPECT_THAT(ir, HasSubstr("name = \"lm_head.weight\", seed = 0 : i64, type = "
                            "tensor<32x16xf32>"));
  // Each state is one argument even though the layer was applied twice.
  const std::string arg = "kiln.state = \"model.layers.0.mlp.up_proj.weight\"";
  size_t first = ir.find(arg);
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(ir.find(arg, first + 1), std::string::npos);
}

TEST(Nn, LayerUsedInTwoEntriesReadsIntoEach) {
  Graph g;
  nn::Linear lin(g, "lin", 4, 2);
  Function &a = g.function("a"), &b = g.function("b");
  a.output("y", lin(a.input("x", {3, 4}, DType::f32)));
  b.output("y", lin(b.input("x", {1, 4}, DType::f32)));
  absl::StatusOr<IrModule> module = g.build();
  ASSERT_TRUE(module.ok()) << module.status();
  std::string ir = module->str();
  EXPECT_THAT(
      ir, HasSubstr("func.func @a(%arg0: tensor<3x4xf32> {kiln.name = \"x\"}, "
                    "%arg1: tensor<2x4xf32> {kiln.state = \"lin.weight\"})"));
  EXPECT_THAT(
      ir, HasSubstr("func.func @b(%arg0: tensor<1x4xf32> {kiln.name = \"x\"}, "
                    "%arg1: tensor<2x4xf32> {kiln.state = \"lin.weight\"})"));
  EXPECT_THAT(
      ir, HasSubstr("a = -5.000000e-01 : f64, b = 5.000000e-01 : f64, init = "
                    "\"uniform\""));
}

TEST(Nn, WrongInputWidthIsAStickyErrorAtTheCaller) {
  Graph g;
  nn::Linear lin(g, "lin", 4, 2);
  Function &f = g.function("f");
  Tensor x = f.input("x", {3, 5}, DType::f32);
  int line = __LINE__ + 1;
  Tensor y = lin(f, x);
  EXPECT_FALSE(y.valid());
  EXPECT_THAT(std::string(g.status().message()),
              HasSubstr("NnTest.cpp:" + std::to_string(line) +
                        ": kiln.matmul: "
                        "contraction sizes differ"));
}

} // namespace
} // namespace kiln
