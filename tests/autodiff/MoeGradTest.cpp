//===- MoeGradTest.cpp - finite-difference checks of the fused MoE ops ----===//
//
// moe_route, moe_gate_up, moe_down and moe_combine against central
// differences in f64, over a plan where every expert has rows and the experts
// a token chose are not in ascending order (so the combine's fixed order is
// exercised).
//
//===----------------------------------------------------------------------===//

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

// 3 tokens, top-2 of 3 experts.
GradInput experts() {
  return fixed("tensor<3x2xi64>", proto::I64, {3, 2}, {1, 0, 2, 1, 1, 2});
}

const char *const kPlan =
    "  %plan:3 = kiln.moe_plan %a{E} {num_experts = 3} : (tensor<3x2xi64>) -> "
    "(tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>)\n";

std::string plan(int expertsArg) {
  std::string s = kPlan;
  s.replace(s.find("{E}"), 3, std::to_string(expertsArg));
  return s;
}

const char *const kGateUp =
    "  %gu:3 = kiln.moe_gate_up %a0, %a1, %a2, %plan#0, %plan#2 : "
    "(tensor<3x4xf64>, "
    "tensor<3x5x4xf64>, tensor<3x5x4xf64>, tensor<6xi64>, tensor<3xi64>) -> "
    "(tensor<6x5xf64>, tensor<6x5xf64>, tensor<6x5xf64>)\n";

TEST(MoeGrad, GateUpEveryResult) {
  checkGradients({"moe_gate_up",
                  {normal("tensor<3x4xf64>", {3, 4}),
                   normal("tensor<3x5x4xf64>", {3, 5, 4}),
                   normal("tensor<3x5x4xf64>", {3, 5, 4}), experts()},
                  plan(3) + kGateUp +
                      "  %s = kiln.add %gu#0, %gu#1 : (tensor<6x5xf64>, "
                      "tensor<6x5xf64>) -> tensor<6x5xf64>\n"
                      "  %out = kiln.add %s, %gu#2 : (tensor<6x5xf64>, "
                      "tensor<6x5xf64>) -> tensor<6x5xf64>",
                  "tensor<6x5xf64>",
                  {6, 5}});
}

TEST(MoeGrad, DownWithRoutingWeights) {
  checkGradients(
      {"moe_down",
       {normal("tensor<6x5xf64>", {6, 5}),
        normal("tensor<3x4x5xf64>", {3, 4, 5}),
        normal("tensor<3x2xf64>", {3, 2}), experts()},
       plan(3) +
           "  %out = kiln.moe_down %a0, %a1, %a2, %plan#0, %plan#1, %plan#2 : "
           "(tensor<6x5xf64>, tensor<3x4x5xf64>, tensor<3x2xf64>, "
           "tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>) -> tensor<3x4xf64>",
       "tensor<3x4xf64>",
       {3, 4}});
}

TEST(MoeGrad, Combine) {
  checkGradients({"moe_combine",
                  {normal("tensor<6x4xf64>", {6, 4}), experts()},
                  plan(1) +
                      "  %out = kiln.moe_combine %a0, %plan#0, %plan#1 : "
                      "(tensor<6x4xf64>, "
                      "tensor<6xi64>, tensor<3x2xi64>) -> tensor<3x4xf64>",
                  "tensor<3x4xf64>",
                  {3, 4}});
}

// The routing's weights: the gradient reaches the chosen scores through the
// normalisation and the scaling; the bias only steers the choice (a finite
// difference of it changes no choice: zero, as the rule gives).
TEST(MoeGrad, RouteNormalisedAndScaled) {
  checkGradients(
      {"moe_route",
       {positive("tensor<4x8xf64>", {4, 8}), normal("tensor<8xf64>", {8})},
       "  %route:2 = kiln.moe_route %a0, %a1 {num_groups = 4 : i64, topk_group "
       "= "
       "2 : i64, top_k = 3 : i64, normalize = true, epsilon = 1.0e-20 : f64, "
       "scaling = 2.5 : f64} : (tensor<4x8xf64>, tensor<8xf64>) -> "
       "(tensor<4x3xi64>, tensor<4x3xf64>)\n"
       "  %out = kiln.mul %route#1, %route#1 : (tensor<4x3xf64>, "
       "tensor<4x3xf64>) -> "
       "tensor<4x3xf64>",
       "tensor<4x3xf64>",
       {4, 3}});
}

TEST(MoeGrad, RouteUnnormalised) {
  checkGradients(
      {"moe_route",
       {normal("tensor<3x6xf64>", {3, 6}), normal("tensor<6xf64>", {6})},
       "  %route:2 = kiln.moe_route %a0, %a1 {num_groups = 1 : i64, topk_group "
       "= "
       "1 : i64, top_k = 2 : i64, normalize = false, epsilon = 0.0 : f64, "
       "scaling = 2.5 : f64} : (tensor<3x6xf64>, tensor<6xf64>) -> "
       "(tensor<3x2xi64>, tensor<3x2xf64>)\n"
       "  %out = kiln.mul %route#1, %route#1 : (tensor<3x2xf64>, "
       "tensor<3x2xf64>) -> "
       "tensor<3x2xf64>",
       "tensor<3x2xf64>",
       {3, 2}});
}

TEST(MoeGrad, WholeLayer) {
  checkGradients(
      {"moe layer",
       {normal("tensor<3x4xf64>", {3, 4}),
        normal("tensor<3x5x4xf64>", {3, 5, 4}),
        normal("tensor<3x5x4xf64>", {3, 5, 4}),
        normal("tensor<3x4x5xf64>", {3, 4, 5}),
        normal("tensor<3x2xf64>", {3, 2}), experts()},
       plan(5) + kGateUp +
           "  %out = kiln.moe_down %gu#0, %a3, %a4, %plan#0, %plan#1, %plan#2 "
           ": "
           "(tensor<6x5xf64>, tensor<3x4x5xf64>, tensor<3x2xf64>, "
           "tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>) -> tensor<3x4xf64>",
       "tensor<3x4xf64>",
       {3, 4}});
}

} // namespace
} // namespace kiln::testing
