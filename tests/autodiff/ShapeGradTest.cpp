//===- ShapeGradTest.cpp - finite-difference checks, shape and index ops
//---===//
//
// transpose, broadcast_to, reshape, slice (strided), dynamic_update_slice,
// concat, gather, take_along_axis, put_along_axis and scatter_add, with
// negative axes,
// duplicate and out-of-range indices. Index operands are i64 `fixed` inputs,
// which the harness does not differentiate.

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

GradInput indices(std::string type, std::vector<int64_t> shape,
                  std::vector<double> values) {
  return fixed(std::move(type), proto::I64, std::move(shape),
               std::move(values));
}

TEST(ShapeGrad, TransposeReshapeBroadcast) {
  checkGradients({"transpose",
                  {normal("tensor<2x3x4xf64>", {2, 3, 4})},
                  "  %out = kiln.transpose %a0 {perm = array<i64: 2, 0, 1>} : "
                  "(tensor<2x3x4xf64>) -> tensor<4x2x3xf64>",
                  "tensor<4x2x3xf64>",
                  {4, 2, 3}});
  checkGradients({"reshape",
                  {normal("tensor<2x6xf64>", {2, 6})},
                  "  %out = kiln.reshape %a0 {shape = array<i64: 3, 4>} : "
                  "(tensor<2x6xf64>) -> tensor<3x4xf64>",
                  "tensor<3x4xf64>",
                  {3, 4}});
  // Adds a leading dimension and stretches a size-1 one.
  checkGradients(
      {"broadcast_to",
       {normal("tensor<3x1xf64>", {3, 1})},
       "  %out = kiln.broadcast_to %a0 {shape = array<i64: 2, 3, 4>} : "
       "(tensor<3x1xf64>) -> tensor<2x3x4xf64>",
       "tensor<2x3x4xf64>",
       {2, 3, 4}});
}

TEST(ShapeGrad, Slice) {
  checkGradients(
      {"slice_contiguous",
       {normal("tensor<5x6xf64>", {5, 6})},
       "  %out = kiln.slice %a0 {start = array<i64: 1, 2>, limit = array<i64: "
       "4, "
       "6>, stride = array<i64: 1, 1>} : (tensor<5x6xf64>) -> tensor<3x4xf64>",
       "tensor<3x4xf64>",
       {3, 4}});
  // Rows 0,2,4 of 5 with stride 2 (the interleaved span of 6 overhangs the
  // dimension and is trimmed); columns 1,4 of 9 with stride 3 (zeros between,
  // after the window, and before it).
  checkGradients(
      {"slice_strided",
       {normal("tensor<5x9xf64>", {5, 9})},
       "  %out = kiln.slice %a0 {start = array<i64: 0, 1>, limit = array<i64: "
       "5, "
       "6>, stride = array<i64: 2, 3>} : (tensor<5x9xf64>) -> tensor<3x2xf64>",
       "tensor<3x2xf64>",
       {3, 2}});
}

TEST(ShapeGrad, DynamicUpdateSlice) {
  // The second start entry (5) is clamped to 6 - 3 = 3, and -1 to 0, as the
  // forward clamps them.
  for (std::vector<double> start :
       {std::vector<double>{1, 2}, std::vector<double>{2, 5},
        std::vector<double>{-1, 1}})
    checkGradients(
        {"dynamic_update_slice",
         {normal("tensor<4x6xf64>", {4, 6}), normal("tensor<2x3xf64>", {2, 3}),
          fixed("tensor<2xi32>", proto::I32, {2}, start)},
         "  %out = kiln.dynamic_update_slice %a0, %a1, %a2 : (tensor<4x6xf64>, "
         "tensor<2x3xf64>, tensor<2xi32>) -> tensor<4x6xf64>",
         "tensor<4x6xf64>",
         {4, 6}});
}

TEST(ShapeGrad, ConcatNegativeAxis) {
  checkGradients(
      {"concat",
       {normal("tensor<2x3xf64>", {2, 3}), normal("tensor<2x1xf64>", {2, 1}),
        normal("tensor<2x2xf64>", {2, 2})},
       "  %out = kiln.concat %a0, %a1, %a2 {axis = -1 : i64} : "
       "(tensor<2x3xf64>, "
       "tensor<2x1xf64>, tensor<2x2xf64>) -> tensor<2x6xf64>",
       "tensor<2x6xf64>",
       {2, 6}});
}

TEST(ShapeGrad, GatherDuplicateAndClampedIndices) {
  // Index 1 twice (gradients accumulate), -3 and 9 clamp to 0 and 3.
  checkGradients(
      {"gather",
       {normal("tensor<3x4x2xf64>", {3, 4, 2}),
        indices("tensor<2x3xi64>", {2, 3}, {1, 1, 3, -3, 9, 1})},
       "  %out = kiln.gather %a0, %a1 {axis = -2 : i64} : (tensor<3x4x2xf64>, "
       "tensor<2x3xi64>) -> tensor<3x2x3x2xf64>",
       "tensor<3x2x3x2xf64>",
       {3, 2, 3, 2}});
}

TEST(ShapeGrad, TakeAlongAxis) {
  // Along the middle axis of 2x5x3, with duplicates and clamped indices.
  checkGradients({"take_along_axis",
                  {normal("tensor<2x5x3xf64>", {2, 5, 3}),
                   indices("tensor<2x4x3xi64>", {2, 4, 3},
                           {0, 4, 2, 4, 4, 1, 7, -1, 3, 2, 2,  2,
                            1, 0, 0, 1, 3, 4, 9, 1,  1, 0, -5, 2})},
                  "  %out = kiln.take_along_axis %a0, %a1 {axis = -2 : i64} : "
                  "(tensor<2x5x3xf64>, tensor<2x4x3xi64>) -> tensor<2x4x3xf64>",
                  "tensor<2x4x3xf64>",
                  {2, 4, 3}});
  // Along the last axis with a size-1 index dimension (a label pick), i32.
  checkGradients({"take_along_axis_last",
                  {normal("tensor<3x5xf64>", {3, 5}),
                   fixed("tensor<3x1xi32>", proto::I32, {3, 1}, {4, 0, 2})},
                  "  %out = kiln.take_along_axis %a0, %a1 {axis = 1 : i64} : "
                  "(tensor<3x5xf64>, tensor<3x1xi32>) -> tensor<3x1xf64>",
                  "tensor<3x1xf64>",
                  {3, 1}});
}

TEST(ShapeGrad, ScatterAddDuplicateAndDroppedIndices) {
  // Index 2 twice; -1 and 4 are out of range, dropped: their updates get 0.
  // i32 indices: the rule widens them before comparing.
  checkGradients(
      {"scatter_add",
       {normal("tensor<2x4xf64>", {2, 4}),
        fixed("tensor<5xi32>", proto::I32, {5}, {2, 0, 2, -1, 4}),
        normal("tensor<2x5xf64>", {2, 5})},
       "  %out = kiln.scatter_add %a0, %a1, %a2 {axis = -1 : i64} : "
       "(tensor<2x4xf64>, tensor<5xi32>, tensor<2x5xf64>) -> tensor<2x4xf64>",
       "tensor<2x4xf64>",
       {2, 4}});
}

TEST(ShapeGrad, PutAlongAxisDuplicateAndDroppedIndices) {
  // Along the middle axis of 2x5x3 with indices broadcast along the last
  // dim: row 0 writes slot 1 twice (the later entry wins; the earlier one
  // gets no gradient) and slot 4; row 1 writes -1 and 5 (out of range:
  // nothing written, zero gradient) and slot 0.
  checkGradients(
      {"put_along_axis",
       {normal("tensor<2x5x3xf64>", {2, 5, 3}),
        fixed("tensor<2x3x1xi32>", proto::I32, {2, 3, 1}, {1, 4, 1, -1, 5, 0}),
        normal("tensor<2x3x3xf64>", {2, 3, 3})},
       "  %out = kiln.put_along_axis %a0, %a1, %a2 {axis = 1 : i64} : "
       "(tensor<2x5x3xf64>, tensor<2x3x1xi32>, tensor<2x3x3xf64>) -> "
       "tensor<2x5x3xf64>",
       "tensor<2x5x3xf64>",
       {2, 5, 3}});
}

TEST(ShapeGrad, IndicesGetNoGradient) {
  // The gradient rule leaves the i64 operand null; the pass must then treat it
  // as a constant, and x's gradient still checks out.
  checkGradients(
      {"gather_int_operand",
       {indices("tensor<3xi64>", {3}, {2, 0, 2}),
        normal("tensor<4x2xf64>", {4, 2})},
       "  %out = kiln.gather %a1, %a0 {axis = 0 : i64} : (tensor<4x2xf64>, "
       "tensor<3xi64>) -> tensor<3x2xf64>",
       "tensor<3x2xf64>",
       {3, 2}});
  // Indices computed from a differentiated float (truncated by the cast): the
  // gather rule must give them no gradient, and the cast then none to %a0.
  checkGradients(
      {"gather_indices_from_float",
       {fixed("tensor<3xf64>", proto::F64, {3}, {2.4, 0.3, 1.6}),
        normal("tensor<4x2xf64>", {4, 2})},
       "  %i = kiln.cast %a0 {to = i64} : (tensor<3xf64>) -> tensor<3xi64>\n"
       "  %out = kiln.gather %a1, %i {axis = 0 : i64} : (tensor<4x2xf64>, "
       "tensor<3xi64>) -> tensor<3x2xf64>",
       "tensor<3x2xf64>",
       {3, 2}});
}

} // namespace
} // namespace kiln::testing
