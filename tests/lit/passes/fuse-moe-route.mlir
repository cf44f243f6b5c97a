// kiln-fuse-moe, routing half (passes/FuseMoeRoute.cpp): DeepSeek-V3's
// group-limited top-k as model code writes it becomes one kiln.moe_route; a
// routing that differs in any piece is left alone.
// RUN: kiln-opt %s --kiln-fuse-moe --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-fuse-moe --split-input-file | kiln-opt --split-input-file > /dev/null

// The routing of DeepseekMoe.cpp (T = 4, E = 8 in 4 groups of 2, 2 groups
// kept, top-2, normalised, scaled by 2.5): only the scores' producer and the
// route remain; the experts and weights users read the route.
// CHECK-LABEL: func.func @route
// CHECK: %[[S:.*]] = kiln.sigmoid
// CHECK-NEXT: %[[E:.*]], %[[W:.*]] = kiln.moe_route %[[S]], %arg1 {epsilon = 9.999999{{[0-9]+}}E-21 : f64, normalize = true, num_groups = 4 : i64, scaling = 2.500000e+00 : f64, top_k = 2 : i64, topk_group = 2 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x2xi64>, tensor<4x2xf32>)
// CHECK-NEXT: return %[[E]], %[[W]], %[[S]]
func.func @route(%logits: tensor<4x8xf32>, %bias: tensor<8xf32>) -> (tensor<4x2xi64>, tensor<4x2xf32>, tensor<4x8xf32>) {
  %scores = kiln.sigmoid %logits : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %choice = kiln.add %scores, %bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %grouped = kiln.reshape %choice {shape = array<i64: 4, 4, 2>} : (tensor<4x8xf32>) -> tensor<4x4x2xf32>
  %top2, %top2i = kiln.topk %grouped {k = 2 : i64} : (tensor<4x4x2xf32>) -> (tensor<4x4x2xf32>, tensor<4x4x2xi64>)
  %gs = kiln.sum %top2 {axes = array<i64: -1>, keepdims = false} : (tensor<4x4x2xf32>) -> tensor<4x4xf32>
  %gv, %kept = kiln.topk %gs {k = 2 : i64} : (tensor<4x4xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  %oh = kiln.one_hot %kept {depth = 4 : i64, dtype = f32} : (tensor<4x2xi64>) -> tensor<4x2x4xf32>
  %gm = kiln.sum %oh {axes = array<i64: 1>, keepdims = false} : (tensor<4x2x4xf32>) -> tensor<4x4xf32>
  %col = kiln.reshape %gm {shape = array<i64: 4, 4, 1>} : (tensor<4x4xf32>) -> tensor<4x4x1xf32>
  %spread = kiln.broadcast_to %col {shape = array<i64: 4, 4, 2>} : (tensor<4x4x1xf32>) -> tensor<4x4x2xf32>
  %mask = kiln.reshape %spread {shape = array<i64: 4, 8>} : (tensor<4x4x2xf32>) -> tensor<4x8xf32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %half = kiln.constant {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
  %on = kiln.greater %mask, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi1>
  %masked = kiln.select %on, %choice, %ninf : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %tv, %experts = kiln.topk %masked {k = 2 : i64} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  %w = kiln.take_along_axis %scores, %experts {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  %tot = kiln.sum %w {axes = array<i64: -1>, keepdims = true} : (tensor<4x2xf32>) -> tensor<4x1xf32>
  %eps = kiln.constant {value = dense<9.99999968E-21> : tensor<f32>} : () -> tensor<f32>
  %den = kiln.add %tot, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %wn = kiln.div %w, %den : (tensor<4x2xf32>, tensor<4x1xf32>) -> tensor<4x2xf32>
  %sc = kiln.constant {value = dense<2.500000e+00> : tensor<f32>} : () -> tensor<f32>
  %ws = kiln.mul %wn, %sc : (tensor<4x2xf32>, tensor<f32>) -> tensor<4x2xf32>
  return %experts, %ws, %scores : tensor<4x2xi64>, tensor<4x2xf32>, tensor<4x8xf32>
}

// -----

// Without normalisation or scaling (normTopkProb false, scaling 1): the route
// says so.
// CHECK-LABEL: func.func @unscaled
// CHECK: kiln.moe_route %arg0, %arg1 {epsilon = 0.000000e+00 : f64, normalize = false, num_groups = 1 : i64, scaling = 1.000000e+00 : f64, top_k = 3 : i64, topk_group = 1 : i64}
// CHECK-NOT: kiln.topk
func.func @unscaled(%scores: tensor<4x8xf32>, %bias: tensor<8xf32>) -> (tensor<4x3xi64>, tensor<4x3xf32>) {
  %choice = kiln.add %scores, %bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %grouped = kiln.reshape %choice {shape = array<i64: 4, 1, 8>} : (tensor<4x8xf32>) -> tensor<4x1x8xf32>
  %top2, %top2i = kiln.topk %grouped {k = 2 : i64} : (tensor<4x1x8xf32>) -> (tensor<4x1x2xf32>, tensor<4x1x2xi64>)
  %gs = kiln.sum %top2 {axes = array<i64: 2>, keepdims = false} : (tensor<4x1x2xf32>) -> tensor<4x1xf32>
  %gv, %kept = kiln.topk %gs {k = 1 : i64} : (tensor<4x1xf32>) -> (tensor<4x1xf32>, tensor<4x1xi64>)
  %oh = kiln.one_hot %kept {depth = 1 : i64, dtype = f32} : (tensor<4x1xi64>) -> tensor<4x1x1xf32>
  %gm = kiln.sum %oh {axes = array<i64: 1>, keepdims = false} : (tensor<4x1x1xf32>) -> tensor<4x1xf32>
  %col = kiln.reshape %gm {shape = array<i64: 4, 1, 1>} : (tensor<4x1xf32>) -> tensor<4x1x1xf32>
  %spread = kiln.broadcast_to %col {shape = array<i64: 4, 1, 8>} : (tensor<4x1x1xf32>) -> tensor<4x1x8xf32>
  %mask = kiln.reshape %spread {shape = array<i64: 4, 8>} : (tensor<4x1x8xf32>) -> tensor<4x8xf32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %half = kiln.constant {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
  %on = kiln.greater %mask, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi1>
  %masked = kiln.select %on, %choice, %ninf : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %tv, %experts = kiln.topk %masked {k = 3 : i64} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  %w = kiln.take_along_axis %scores, %experts {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x3xi64>) -> tensor<4x3xf32>
  return %experts, %w : tensor<4x3xi64>, tensor<4x3xf32>
}

// -----

// Near miss: a group scored by its top three, not its top two.
// CHECK-LABEL: func.func @top_three_groups
// CHECK-NOT: kiln.moe_route
// CHECK: kiln.take_along_axis
func.func @top_three_groups(%scores: tensor<4x8xf32>, %bias: tensor<8xf32>) -> (tensor<4x2xi64>, tensor<4x2xf32>) {
  %choice = kiln.add %scores, %bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %grouped = kiln.reshape %choice {shape = array<i64: 4, 2, 4>} : (tensor<4x8xf32>) -> tensor<4x2x4xf32>
  %top3, %top3i = kiln.topk %grouped {k = 3 : i64} : (tensor<4x2x4xf32>) -> (tensor<4x2x3xf32>, tensor<4x2x3xi64>)
  %gs = kiln.sum %top3 {axes = array<i64: -1>, keepdims = false} : (tensor<4x2x3xf32>) -> tensor<4x2xf32>
  %gv, %kept = kiln.topk %gs {k = 1 : i64} : (tensor<4x2xf32>) -> (tensor<4x1xf32>, tensor<4x1xi64>)
  %oh = kiln.one_hot %kept {depth = 2 : i64, dtype = f32} : (tensor<4x1xi64>) -> tensor<4x1x2xf32>
  %gm = kiln.sum %oh {axes = array<i64: 1>, keepdims = false} : (tensor<4x1x2xf32>) -> tensor<4x2xf32>
  %col = kiln.reshape %gm {shape = array<i64: 4, 2, 1>} : (tensor<4x2xf32>) -> tensor<4x2x1xf32>
  %spread = kiln.broadcast_to %col {shape = array<i64: 4, 2, 4>} : (tensor<4x2x1xf32>) -> tensor<4x2x4xf32>
  %mask = kiln.reshape %spread {shape = array<i64: 4, 8>} : (tensor<4x2x4xf32>) -> tensor<4x8xf32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %half = kiln.constant {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
  %on = kiln.greater %mask, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi1>
  %masked = kiln.select %on, %choice, %ninf : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %tv, %experts = kiln.topk %masked {k = 2 : i64} : (tensor<4x8xf32>) -> (tensor<4x2xf32>, tensor<4x2xi64>)
  %w = kiln.take_along_axis %scores, %experts {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  return %experts, %w : tensor<4x2xi64>, tensor<4x2xf32>
}

// -----

// Near miss: the weights gathered from the biased choice, not the scores.
// CHECK-LABEL: func.func @weights_from_choice
// CHECK-NOT: kiln.moe_route
// CHECK: kiln.take_along_axis
func.func @weights_from_choice(%scores: tensor<4x8xf32>, %bias: tensor<8xf32>) -> (tensor<4x3xi64>, tensor<4x3xf32>) {
  %choice = kiln.add %scores, %bias : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %grouped = kiln.reshape %choice {shape = array<i64: 4, 1, 8>} : (tensor<4x8xf32>) -> tensor<4x1x8xf32>
  %top2, %top2i = kiln.topk %grouped {k = 2 : i64} : (tensor<4x1x8xf32>) -> (tensor<4x1x2xf32>, tensor<4x1x2xi64>)
  %gs = kiln.sum %top2 {axes = array<i64: 2>, keepdims = false} : (tensor<4x1x2xf32>) -> tensor<4x1xf32>
  %gv, %kept = kiln.topk %gs {k = 1 : i64} : (tensor<4x1xf32>) -> (tensor<4x1xf32>, tensor<4x1xi64>)
  %oh = kiln.one_hot %kept {depth = 1 : i64, dtype = f32} : (tensor<4x1xi64>) -> tensor<4x1x1xf32>
  %gm = kiln.sum %oh {axes = array<i64: 1>, keepdims = false} : (tensor<4x1x1xf32>) -> tensor<4x1xf32>
  %col = kiln.reshape %gm {shape = array<i64: 4, 1, 1>} : (tensor<4x1xf32>) -> tensor<4x1x1xf32>
  %spread = kiln.broadcast_to %col {shape = array<i64: 4, 1, 8>} : (tensor<4x1x1xf32>) -> tensor<4x1x8xf32>
  %mask = kiln.reshape %spread {shape = array<i64: 4, 8>} : (tensor<4x1x8xf32>) -> tensor<4x8xf32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %half = kiln.constant {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
  %on = kiln.greater %mask, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi1>
  %masked = kiln.select %on, %choice, %ninf : (tensor<4x8xi1>, tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %tv, %experts = kiln.topk %masked {k = 3 : i64} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  %w = kiln.take_along_axis %choice, %experts {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x3xi64>) -> tensor<4x3xf32>
  return %experts, %w : tensor<4x3xi64>, tensor<4x3xf32>
}
