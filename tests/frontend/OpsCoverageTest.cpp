// Every op function of Ops.h called once on valid input, in one graph that must
// build and verify; and the attributes the code generator reads are spelled
// right.

#include "frontend/Kiln.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln {
namespace {

using ::testing::HasSubstr;

using Unary = Tensor (*)(const Tensor &, SourceLoc);
using Binary = Tensor (*)(const Tensor &, const Tensor &, SourceLoc);
using Reduce = Tensor (*)(const Tensor &, const Axes &, bool, SourceLoc);

TEST(OpsCoverage, EveryOpBuildsAndVerifies) {
  Graph g("coverage");
  Function &f = g.function("all");
  std::vector<Tensor> outs;
  auto keep = [&](const Tensor &t) {
    EXPECT_TRUE(t.valid()) << g.status();
    outs.push_back(t);
  };
  Tensor x = f.input("x", {2, 3}, DType::f32);
  Tensor y = f.input("y", {2, 3}, DType::f32);
  Tensor i = f.input("i", {2, 3}, DType::i32);
  Tensor key = f.input("key", {}, DType::i64);

  // Sources.
  keep(constant(f, {1, 2, 3, 4, 5, 6}, {2, 3}, DType::f32));
  keep(constant(f, {1, 0}, {2}, DType::i1));
  keep(constant(f, {7, -8}, {2}, DType::i4));
  keep(constant(f, {1000}, {2}, DType::f8e4m3fn));
  keep(scalar(f, 3.5, DType::f64));
  keep(full(f, {2, 2}, 0.5, DType::bf16));
  keep(zeros(f, {3}, DType::i8));
  keep(ones(f, {3}, DType::f16));
  keep(iota(f, {2, 3}, 1, DType::i64));
  keep(randomUniform(key, {4}, DType::f32));
  keep(randomNormal(key, {4}, DType::bf16));
  keep(randomCategorical(key, x));

  // Elementwise.
  for (Unary fn :
       std::initializer_list<Unary>{neg, abs, sign, exp, log, sqrt, rsqrt, tanh,
                                    sigmoid, silu, gelu, erf, sin, cos})
    keep(fn(x, SourceLoc::current()));
  keep(neg(i));
  keep(abs(i));
  for (Binary fn :
       std::initializer_list<Binary>{add, sub, mul, div, pow, maximum, minimum})
    keep(fn(x, y, SourceLoc::current()));
  keep(pow(x, 2.0));
  keep(maximum(x, 0.0));
  keep(minimum(i, 3));
  for (Binary fn : std::initializer_list<Binary>{equal, notEqual})
    keep(fn(x, y, SourceLoc::current()));
  keep(equal(i, 1));
  keep(notEqual(i, 1));
  for (Binary fn :
       std::initializer_list<Binary>{less, lessEqual, greater, greaterEqual})
    keep(fn(x, y, SourceLoc::current()));
  Tensor b = x < y;
  keep(b);
  keep(x <= y);
  keep(x > 0.0);
  keep(x >= y);
  keep(logicalAnd(b, b));
  keep(logicalOr(b, b));
  keep(logicalNot(b));
  keep(b && b);
  keep(b || b);
  keep(!b);
  keep(-x);
  keep(x + y - x * y / y);
  keep(1.0 - x);
  keep(select(b, x, y));
  keep(cast(x, DType::bf16));
  keep(cast(i, DType::f32));

  // Shape.
  keep(reshape(x, {3, -1}));
  keep(transpose(x, {1, 0}));
  keep(broadcastTo(x, {4, 2, 3}));
  keep(slice(x, {0, 1}, {2, 3}));
  keep(slice(x, {0, 0}, {-1, 3}, {1, 2}));
  Tensor patch = f.input("patch", {1, 2}, DType::f32);
  keep(dynamicUpdateSlice(x, patch, {1, 1}));
  keep(dynamicUpdateSlice(x, patch, constant(f, {0, 1}, {2}, DType::i32)));
  keep(concat({x, y, x}, 0));
  Tensor idx = f.input("idx", {5}, DType::i64);
  keep(gather(x, idx, 1));
  keep(takeAlongAxis(x, i, 1));
  keep(putAlongAxis(x, i, takeAlongAxis(x, i, 1), 1));
  keep(scatterAdd(x, idx, f.input("upd", {2, 5}, DType::f32), 1));
  keep(oneHot(idx, 7, DType::bf16));
  keep(bincount(idx, 9));

  // Reductions.
  for (Reduce fn :
       std::initializer_list<Reduce>{sum, mean, max, min, logsumexp})
    keep(fn(x, {-1}, false, SourceLoc::current()));
  keep(sum(i, {0, 1}, true));
  keep(max(x, {}));
  keep(argmax(x, 1));
  keep(argmax(i, 0, true));
  keep(softmax(x));
  keep(logSoftmax(x, 0));
  keep(cumsum(x, 1));
  keep(cumsum(i, 0, true, true));
  keep(rmsNorm(x, f.input("norm", {3}, DType::f32), 1e-5));

  // Linear algebra.
  Tensor w = f.input("w", {3, 4}, DType::f32);
  keep(matmul(x, w));
  keep(matmul(x, x, false, true));
  keep(matmul(f.input("batched", {5, 2, 3}, DType::f32), w));
  Tensor tokens = f.input("tokens", {6, 3}, DType::bf16);
  Tensor offsets = f.input("offsets", {2}, DType::i32);
  keep(groupedMatmul(tokens, f.input("experts", {2, 3, 8}, DType::bf16),
                     offsets));
  keep(groupedMatmul(tokens, f.input("expertsT", {2, 8, 3}, DType::bf16),
                     offsets, true));
  keep(groupedMatmulContract(tokens, f.input("dy", {6, 8}, DType::bf16),
                             offsets));

  // Selection.
  auto [values, indices] = topk(x, 2);
  keep(values);
  keep(indices);
  EXPECT_EQ(indices.dtype(), DType::i64);
  keep(sort(x));
  keep(sort(i, 0, true));
  keep(argsort(x, -1, true));

  // Model ops.
  Tensor q = f.input("q", {2, 4, 5, 8}, DType::f32);
  Tensor k = f.input("k", {2, 2, 7, 8}, DType::f32);
  Tensor v = f.input("v", {2, 2, 7, 6}, DType::f32);
  Tensor cosT = f.input("cos", {5, 4}, DType::f32);
  Tensor sinT = f.input("sin", {5, 4}, DType::f32);
  keep(rotary(q, cosT, sinT));
  keep(rotary(q, cosT, sinT, true));
  keep(attention(q, k, v));
  Tensor lens = f.input("lens", {2}, DType::i32);
  keep(attention(q, k, v, {.scale = 0.5, .causal = true, .validLen = lens}));
  keep(attention(q, k, v, {.causal = true, .validLen = lens, .qOffset = lens}));
  keep(attention(q, k, v, {.causal = true, .qOffset = lens}));
  Tensor logits = f.input("logits", {2, 3, 11}, DType::f32);
  keep(crossEntropy(logits, i));
  keep(tokenLogprobs(logits, i));

  for (size_t n = 0; n < outs.size(); ++n)
    f.output("out" + std::to_string(n), outs[n]);
  ASSERT_TRUE(g.status().ok()) << g.status();
  absl::StatusOr<IrModule> module = g.build();
  ASSERT_TRUE(module.ok()) << module.status();
  std::string ir = module->str();

  for (const char *op : {"constant",
                         "iota",
                         "random_uniform",
                         "random_normal",
                         "random_categorical",
                         "neg",
                         "abs",
                         "sign",
                         "exp",
                         "log",
                         "sqrt",
                         "rsqrt",
                         "tanh",
                         "sigmoid",
                         "silu",
                         "gelu",
                         "erf",
                         "sin",
                         "cos",
                         "add",
                         "sub",
                         "mul",
                         "div",
                         "pow",
                         "maximum",
                         "minimum",
                         "equal",
                         "not_equal",
                         "less",
                         "less_equal",
                         "greater",
                         "greater_equal",
                         "logical_and",
                         "logical_or",
                         "logical_not",
                         "select",
                         "cast",
                         "reshape",
                         "transpose",
                         "broadcast_to",
                         "slice",
                         "dynamic_update_slice",
                         "concat",
                         "gather",
                         "take_along_axis",
                         "scatter_add",
                         "one_hot",
                         "bincount",
                         "sum",
                         "mean",
                         "max",
                         "min",
                         "logsumexp",
                         "argmax",
                         "softmax",
                         "log_softmax",
                         "cumsum",
                         "rms_norm",
                         "matmul",
                         "grouped_matmul",
                         "topk",
                         "sort",
                         "argsort",
                         "rotary",
                         "attention",
                         "cross_entropy",
                         "token_logprobs"})
    EXPECT_THAT(ir, HasSubstr(std::string("kiln.") + op + " ")) << op;

  // Attribute spellings the code generator reads.
  EXPECT_THAT(ir, HasSubstr("{transpose_a = false, transpose_b = true}"));
  EXPECT_THAT(ir, HasSubstr("{mode = #kiln.grouped_mode<contract>, transpose_w = false}"));
  EXPECT_THAT(ir, HasSubstr("{mode = #kiln.grouped_mode<rows>, transpose_w = true}"));
  EXPECT_THAT(ir, HasSubstr("{axes = array<i64: -1>, keepdims = false}"));
  EXPECT_THAT(ir,
              HasSubstr("{axis = 0 : i64, exclusive = true, reverse = true}"));
  EXPECT_THAT(ir, HasSubstr("{depth = 7 : i64, dtype = bf16}"));
  EXPECT_THAT(ir, HasSubstr("{to = bf16}"));
  EXPECT_THAT(ir,
              HasSubstr("{limit = array<i64: 1, 3>, start = array<i64: 0, 0>, "
                        "stride = array<i64: 1, 2>}"));
  EXPECT_THAT(
      ir, HasSubstr("{causal = false, operandSegmentSizes = array<i32: 1, 1, "
                    "1, 0, 0>, scale = 0.35355339059327373 : f64}"));
  EXPECT_THAT(
      ir, HasSubstr("operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>, scale = "
                    "5.000000e-01 : f64"));
  EXPECT_THAT(ir, HasSubstr("operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>"));
  EXPECT_THAT(ir, HasSubstr("dense<[7, -8]> : tensor<2xi4>"));
  EXPECT_THAT(ir, HasSubstr("dense<4.480000e+02> : tensor<2xf8E4M3FN>"));
  EXPECT_THAT(ir, HasSubstr("dense<[true, false]> : tensor<2xi1>"));
  EXPECT_THAT(ir, HasSubstr("dense<1> : tensor<2xi64>"));
  EXPECT_THAT(ir, HasSubstr("{dimension = 1 : i64} : () -> tensor<2x3xi64>"));
  EXPECT_THAT(ir, HasSubstr("kiln.random_normal %arg3 : (tensor<i64>) -> "
                            "tensor<4xbf16>"));
}

} // namespace
} // namespace kiln
