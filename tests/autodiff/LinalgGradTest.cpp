//===- LinalgGradTest.cpp - finite-difference checks, matmuls -------------===//
//
// matmul with every transpose pair and broadcast batches; grouped_matmul in
// both modes with an empty group and rows past the last offset.
//
//===----------------------------------------------------------------------===//

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

std::string tensorType(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + "f64>";
}

/// A [..., M, K] operand stored transposed when `transpose` is set.
std::vector<int64_t> stored(std::vector<int64_t> shape, bool transpose) {
  if (transpose)
    std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
  return shape;
}

void checkMatmul(const std::string &name, std::vector<int64_t> a,
                 std::vector<int64_t> b, std::vector<int64_t> out, bool ta,
                 bool tb) {
  a = stored(a, ta);
  b = stored(b, tb);
  checkGradients({name + (ta ? " ta" : "") + (tb ? " tb" : ""),
                  {normal(tensorType(a), a), normal(tensorType(b), b)},
                  std::string("  %out = kiln.matmul %a0, %a1 {transpose_a = ") +
                      (ta ? "true" : "false") + ", transpose_b = " +
                      (tb ? "true" : "false") + "} : (" + tensorType(a) + ", " +
                      tensorType(b) + ") -> " + tensorType(out),
                  tensorType(out),
                  out});
}

TEST(LinalgGrad, MatmulEveryTransposeAndBroadcast) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      checkMatmul("matmul 2d", {3, 4}, {4, 5}, {3, 5}, ta, tb);
      // Batch [2, 1] against [3]: both operands have broadcast batch dims.
      checkMatmul("matmul batch broadcast", {2, 1, 3, 4}, {3, 4, 2},
                  {2, 3, 3, 2}, ta, tb);
      // A rank-2 weight shared by a batched operand, on either side.
      checkMatmul("matmul rank-2 rhs", {2, 3, 3, 4}, {4, 2}, {2, 3, 3, 2}, ta,
                  tb);
      checkMatmul("matmul rank-2 lhs", {3, 4}, {2, 4, 2}, {2, 3, 2}, ta, tb);
    }
}

// Offsets [2, 2, 5] of 7 rows: group 1 is empty and rows 5 and 6 are in no
// group.
GradInput offsets() {
  return fixed("tensor<3xi64>", proto::I64, {3}, {2, 2, 5});
}

TEST(LinalgGrad, GroupedMatmulRows) {
  checkGradients(
      {"grouped_matmul rows",
       {normal("tensor<7x3xf64>", {7, 3}),
        normal("tensor<3x3x4xf64>", {3, 3, 4}), offsets()},
       "  %out = kiln.grouped_matmul %a0, %a1, %a2 {mode = #kiln.grouped_mode<rows>, "
       "transpose_w = false} : (tensor<7x3xf64>, tensor<3x3x4xf64>, "
       "tensor<3xi64>) -> tensor<7x4xf64>",
       "tensor<7x4xf64>",
       {7, 4}});
  checkGradients(
      {"grouped_matmul rows transpose_w",
       {normal("tensor<7x3xf64>", {7, 3}),
        normal("tensor<3x4x3xf64>", {3, 4, 3}), offsets()},
       "  %out = kiln.grouped_matmul %a0, %a1, %a2 {mode = #kiln.grouped_mode<rows>, "
       "transpose_w = true} : (tensor<7x3xf64>, tensor<3x4x3xf64>, "
       "tensor<3xi64>) -> tensor<7x4xf64>",
       "tensor<7x4xf64>",
       {7, 4}});
}

TEST(LinalgGrad, GroupedMatmulContract) {
  checkGradients(
      {"grouped_matmul contract",
       {normal("tensor<7x3xf64>", {7, 3}), normal("tensor<7x4xf64>", {7, 4}),
        offsets()},
       "  %out = kiln.grouped_matmul %a0, %a1, %a2 {mode = #kiln.grouped_mode<contract>, "
       "transpose_w = false} : (tensor<7x3xf64>, tensor<7x4xf64>, "
       "tensor<3xi64>) -> tensor<3x3x4xf64>",
       "tensor<3x3x4xf64>",
       {3, 3, 4}});
}

} // namespace
} // namespace kiln::testing
