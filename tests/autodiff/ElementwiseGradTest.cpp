//===- ElementwiseGradTest.cpp - finite-difference checks, elementwise ops
//-===//
//
// Unary math (positive inputs where the op needs them), binary ops with
// broadcasting, maximum/minimum ties, select and cast.

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

const char *kMat = "tensor<3x4xf64>";

/// `%out = kiln.OP %a0` on one input.
GradCase unaryCase(const std::string &op, GradInput input) {
  std::string type = input.type;
  std::vector<int64_t> shape = input.shape;
  return {op,
          {std::move(input)},
          "  %out = kiln." + op + " %a0 : (" + type + ") -> " + type,
          type,
          shape};
}

/// `%out = kiln.OP %a0, %a1` with the result shaped 3x4.
GradCase binaryCase(const std::string &op, GradInput lhs, GradInput rhs) {
  std::string name = op + "_" + lhs.type + "_" + rhs.type;
  std::string body = "  %out = kiln." + op + " %a0, %a1 : (" + lhs.type + ", " +
                     rhs.type + ") -> " + kMat;
  return {name, {std::move(lhs), std::move(rhs)}, body, kMat, {3, 4}};
}

TEST(ElementwiseGrad, AddSubMulWithBroadcasting) {
  for (const char *op : {"add", "sub", "mul"})
    checkGradients(
        {std::string(op),
         {normal("tensor<3x4xf64>", {3, 4}), normal("tensor<4xf64>", {4})},
         std::string("  %out = kiln.") + op +
             " %a0, %a1 : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>",
         "tensor<3x4xf64>",
         {3, 4}});
}

TEST(ElementwiseGrad, NegExpAndReuse) {
  // %a0 feeds two ops: its gradient is the sum of both contributions.
  checkGradients({"neg_exp_reuse",
                  {normal("tensor<2x3xf64>", {2, 3})},
                  "  %e = kiln.exp %a0 : (tensor<2x3xf64>) -> tensor<2x3xf64>\n"
                  "  %n = kiln.neg %a0 : (tensor<2x3xf64>) -> tensor<2x3xf64>\n"
                  "  %out = kiln.mul %e, %n : (tensor<2x3xf64>, "
                  "tensor<2x3xf64>) -> tensor<2x3xf64>",
                  "tensor<2x3xf64>",
                  {2, 3}});
}

TEST(ElementwiseGrad, UnaryOnAnyInput) {
  for (const char *op :
       {"abs", "tanh", "sigmoid", "silu", "gelu", "erf", "sin", "cos"})
    checkGradients(unaryCase(op, normal(kMat, {3, 4})));
}

TEST(ElementwiseGrad, UnaryOnPositiveInput) {
  for (const char *op : {"log", "sqrt", "rsqrt"})
    checkGradients(unaryCase(op, positive(kMat, {3, 4})));
}

TEST(ElementwiseGrad, GeluAtAndNearZero) {
  // gelu(x) / x would be 0/0 at 0; the rule must not go through it.
  checkGradients(unaryCase("gelu", fixed("tensor<7xf64>", proto::F64, {7},
                                         {0, 1e-4, -1e-4, 0.5, -2, 6, -6})));
}

TEST(ElementwiseGrad, DivWithBroadcasting) {
  checkGradients(
      binaryCase("div", normal(kMat, {3, 4}), positive("tensor<4xf64>", {4})));
  checkGradients(binaryCase("div", normal("tensor<3x1xf64>", {3, 1}),
                            positive(kMat, {3, 4})));
}

TEST(ElementwiseGrad, PowWithPositiveBase) {
  // d/db = a^b log(a) is real only for a > 0.
  checkGradients(
      binaryCase("pow", positive(kMat, {3, 4}), normal("tensor<4xf64>", {4})));
  checkGradients(binaryCase("pow", positive("tensor<3x1xf64>", {3, 1}),
                            normal(kMat, {3, 4})));
}

TEST(ElementwiseGrad, MaximumMinimumWithBroadcasting) {
  for (const char *op : {"maximum", "minimum"})
    checkGradients(
        binaryCase(op, normal(kMat, {3, 4}), normal("tensor<4xf64>", {4})));
}

TEST(ElementwiseGrad, MaximumMinimumTiesSplitEvenly) {
  // At a tie a central difference moves the result by h on one side only, so
  // it measures 1/2: the balanced split.
  std::vector<double> a = {1, 2, 3, -1, 0.5, 7, 8, -2, 4, 4, 0, 1};
  std::vector<double> b = {1, 0, 5, -1, 0.5, 9, 2, -2, 4, 3, 0, 2};
  for (const char *op : {"maximum", "minimum"})
    checkGradients(binaryCase(op, fixed(kMat, proto::F64, {3, 4}, a),
                              fixed(kMat, proto::F64, {3, 4}, b)));
}

TEST(ElementwiseGrad, SelectWithBroadcasting) {
  // cond [3, 1], a [3, 4], b [4]: each branch's gradient sums back to its
  // shape.
  checkGradients(
      {"select",
       {fixed("tensor<3x1xi1>", proto::I1, {3, 1}, {1, 0, 1}),
        normal(kMat, {3, 4}), normal("tensor<4xf64>", {4})},
       "  %out = kiln.select %a0, %a1, %a2 : (tensor<3x1xi1>, tensor<3x4xf64>, "
       "tensor<4xf64>) -> tensor<3x4xf64>",
       kMat,
       {3, 4}});
}

TEST(ElementwiseGrad, CastFloatToFloat) {
  // The f32 round trip makes the central difference accurate to ~1e-7 / h.
  GradCase c{
      "cast_f32",
      {normal(kMat, {3, 4})},
      "  %c = kiln.cast %a0 {to = f32} : (tensor<3x4xf64>) -> tensor<3x4xf32>\n"
      "  %out = kiln.cast %c {to = f64} : (tensor<3x4xf32>) -> tensor<3x4xf64>",
      kMat,
      {3, 4}};
  c.tolerance = 0.1;
  checkGradients(c);
}

TEST(ElementwiseGrad, CastThroughIntegerHasNoGradient) {
  // Only the direct term reaches %a0; the integer round trip contributes 0.
  checkGradients(
      {"cast_i64",
       {normal(kMat, {3, 4})},
       "  %i = kiln.cast %a0 {to = i64} : (tensor<3x4xf64>) -> "
       "tensor<3x4xi64>\n"
       "  %f = kiln.cast %i {to = f64} : (tensor<3x4xi64>) -> tensor<3x4xf64>\n"
       "  %out = kiln.add %f, %a0 : (tensor<3x4xf64>, tensor<3x4xf64>) -> "
       "tensor<3x4xf64>",
       kMat,
       {3, 4}});
}

} // namespace
} // namespace kiln::testing
