//===- ReduceGradTest.cpp - finite-difference checks, reductions ----------===//
//
// Reductions (keepdims, negative and multiple axes, ties), cumsum flags,
// softmax, log_softmax, rms_norm, topk and sort.
//
//===----------------------------------------------------------------------===//

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

/// `%out = kiln.<op> %a0 {axes = [...], keepdims = ...}` from `in` to `out`.
std::string reduceBody(const std::string &op, const std::string &axes,
                       bool keepdims, const std::string &in,
                       const std::string &out) {
  return "  %out = kiln." + op + " %a0 {axes = array<i64" +
         (axes.empty() ? "" : ": " + axes) +
         ">, keepdims = " + (keepdims ? "true" : "false") + "} : (" + in +
         ") -> " + out;
}

struct ReduceShape {
  std::string axes;
  bool keepdims;
  std::string outType;
  std::vector<int64_t> outShape;
};

// Reductions of a [2, 3, 4] input: one axis, negative, several, all, none.
const ReduceShape kReduceShapes[] = {
    {"1", false, "tensor<2x4xf64>", {2, 4}},
    {"-1", true, "tensor<2x3x1xf64>", {2, 3, 1}},
    {"0, -1", false, "tensor<3xf64>", {3}},
    {"2, 0", true, "tensor<1x3x1xf64>", {1, 3, 1}},
    {"0, 1, 2", false, "tensor<f64>", {}},
    {"", false, "tensor<2x3x4xf64>", {2, 3, 4}},
};

TEST(ReduceGrad, SumMeanMaxMinLogSumExp) {
  for (const char *op : {"sum", "mean", "max", "min", "logsumexp"})
    for (const ReduceShape &s : kReduceShapes)
      checkGradients(
          {std::string(op) + " axes=[" + s.axes + "]",
           {normal("tensor<2x3x4xf64>", {2, 3, 4})},
           reduceBody(op, s.axes, s.keepdims, "tensor<2x3x4xf64>", s.outType),
           s.outType,
           s.outShape});
}

TEST(ReduceGrad, MaxMinShareTiesEqually) {
  // Two-way ties only: a central difference at a tie of two sees slope 1/2 for
  // each, which is what equal sharing gives.
  std::vector<double> values = {1, 3, 3, 0, 2, -1, 2, 0.5, 0.1, 0.2, 0.3, 0.4};
  std::vector<double> lows = {1, -3, -3, 0, -2, 1, -2, 0.5, 0.1, 0.2, 0.3, 0.4};
  checkGradients(
      {"max ties",
       {fixed("tensor<3x4xf64>", proto::F64, {3, 4}, values)},
       reduceBody("max", "-1", false, "tensor<3x4xf64>", "tensor<3xf64>"),
       "tensor<3xf64>",
       {3}});
  checkGradients(
      {"min ties",
       {fixed("tensor<3x4xf64>", proto::F64, {3, 4}, lows)},
       reduceBody("min", "1", true, "tensor<3x4xf64>", "tensor<3x1xf64>"),
       "tensor<3x1xf64>",
       {3, 1}});
  // Columns 1 and 2 of rows 0 tie for the overall maximum.
  checkGradients(
      {"max ties all axes",
       {fixed("tensor<3x4xf64>", proto::F64, {3, 4}, values)},
       reduceBody("max", "0, 1", false, "tensor<3x4xf64>", "tensor<f64>"),
       "tensor<f64>",
       {}});
}

TEST(ReduceGrad, CumsumEveryFlag) {
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true})
      for (const char *axis : {"0", "-1"})
        checkGradients(
            {std::string("cumsum axis=") + axis +
                 (exclusive ? " exclusive" : "") + (reverse ? " reverse" : ""),
             {normal("tensor<3x5xf64>", {3, 5})},
             std::string("  %out = kiln.cumsum %a0 {axis = ") + axis +
                 " : i64, exclusive = " + (exclusive ? "true" : "false") +
                 ", reverse = " + (reverse ? "true" : "false") +
                 "} : (tensor<3x5xf64>) -> tensor<3x5xf64>",
             "tensor<3x5xf64>",
             {3, 5}});
}

TEST(ReduceGrad, SoftmaxAndLogSoftmax) {
  for (const char *op : {"softmax", "log_softmax"})
    for (const char *axis : {"0", "1", "-1"})
      checkGradients({std::string(op) + " axis=" + axis,
                      {normal("tensor<2x3x4xf64>", {2, 3, 4})},
                      std::string("  %out = kiln.") + op +
                          " %a0 {axis = " + axis +
                          " : i64} : (tensor<2x3x4xf64>) -> tensor<2x3x4xf64>",
                      "tensor<2x3x4xf64>",
                      {2, 3, 4}});
}

TEST(ReduceGrad, RmsNorm) {
  checkGradients(
      {"rms_norm",
       {normal("tensor<2x3x5xf64>", {2, 3, 5}), normal("tensor<5xf64>", {5})},
       "  %out = kiln.rms_norm %a0, %a1 {eps = 1.0e-03 : f64} : "
       "(tensor<2x3x5xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>",
       "tensor<2x3x5xf64>",
       {2, 3, 5}});
  checkGradients({"rms_norm rank 1",
                  {normal("tensor<6xf64>", {6}), normal("tensor<6xf64>", {6})},
                  "  %out = kiln.rms_norm %a0, %a1 {eps = 0.0 : f64} : "
                  "(tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>",
                  "tensor<6xf64>",
                  {6}});
}

TEST(ReduceGrad, Topk) {
  checkGradients(
      {"topk",
       {normal("tensor<3x6xf64>", {3, 6})},
       "  %v:2 = kiln.topk %a0 {k = 3 : i64} : (tensor<3x6xf64>) -> "
       "(tensor<3x3xf64>, tensor<3x3xi64>)\n"
       "  %out = kiln.mul %v#0, %v#0 : (tensor<3x3xf64>, tensor<3x3xf64>) "
       "-> tensor<3x3xf64>",
       "tensor<3x3xf64>",
       {3, 3}});
  checkGradients(
      {"topk rank 3",
       {normal("tensor<2x3x5xf64>", {2, 3, 5})},
       "  %v:2 = kiln.topk %a0 {k = 2 : i64} : (tensor<2x3x5xf64>) -> "
       "(tensor<2x3x2xf64>, tensor<2x3x2xi64>)\n"
       "  %out = kiln.neg %v#0 : (tensor<2x3x2xf64>) -> tensor<2x3x2xf64>",
       "tensor<2x3x2xf64>",
       {2, 3, 2}});
}

TEST(ReduceGrad, Sort) {
  for (const char *axis : {"0", "-1"})
    for (bool descending : {false, true})
      checkGradients(
          {std::string("sort axis=") + axis + (descending ? " desc" : ""),
           {normal("tensor<4x3x5xf64>", {4, 3, 5})},
           std::string("  %out = kiln.sort %a0 {axis = ") + axis +
               " : i64, descending = " + (descending ? "true" : "false") +
               "} : (tensor<4x3x5xf64>) -> tensor<4x3x5xf64>",
           "tensor<4x3x5xf64>",
           {4, 3, 5}});
}

} // namespace
} // namespace kiln::testing
