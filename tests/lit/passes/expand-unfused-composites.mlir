// kiln-expand-unfused-composites keeps the attention ops the fused ptx kernel
// runs (every score of a query row in shared memory), the MoE routes its
// kernel runs (at most 64 groups) and the MoE plans the one-block kernel runs
// (at most 1024 pairs), and expands the others into primitives, softmax
// included.
// RUN: kiln-opt %s --kiln-expand-unfused-composites --split-input-file | FileCheck %s

// 37 keys fit: the op stays whole.
// CHECK-LABEL: func.func @fits
// CHECK: kiln.attention
func.func @fits(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x37x8xf32>, %v: tensor<1x2x37x8xf32>) -> tensor<1x2x3x8xf32> {
  %a = kiln.attention %q, %k, %v {scale = 0.35 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x2x3x8xf32>, tensor<1x2x37x8xf32>, tensor<1x2x37x8xf32>) -> tensor<1x2x3x8xf32>
  return %a : tensor<1x2x3x8xf32>
}

// -----

// 9000 keys of f32 scores exceed a block's shared memory: matmuls and a
// row-wise softmax of primitives replace it.
// CHECK-LABEL: func.func @too_long
// CHECK-NOT: kiln.attention
// CHECK-NOT: kiln.softmax
// CHECK: kiln.matmul
// CHECK: kiln.exp
// CHECK: kiln.matmul
func.func @too_long(%q: tensor<1x1x2x8xf32>, %k: tensor<1x1x9000x8xf32>, %v: tensor<1x1x9000x8xf32>) -> tensor<1x1x2x8xf32> {
  %a = kiln.attention %q, %k, %v {scale = 0.35 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x1x2x8xf32>, tensor<1x1x9000x8xf32>, tensor<1x1x9000x8xf32>) -> tensor<1x1x2x8xf32>
  return %a : tensor<1x1x2x8xf32>
}

// -----

// 64 tokens x top-4 = 256 pairs: one block plans them.
// CHECK-LABEL: func.func @plan_fits
// CHECK: kiln.moe_plan
// CHECK-NOT: kiln.argsort
func.func @plan_fits(%e: tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>) {
  %p:3 = kiln.moe_plan %e {num_experts = 32 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>)
  return %p#0, %p#1, %p#2 : tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>
}

// -----

// 4096 tokens x top-6 = 24576 pairs: argsort, bincount and cumsum instead.
// CHECK-LABEL: func.func @plan_too_big
// CHECK-NOT: kiln.moe_plan
// CHECK-DAG: kiln.argsort
// CHECK-DAG: kiln.bincount
// CHECK-DAG: kiln.cumsum
func.func @plan_too_big(%e: tensor<4096x6xi64>) -> (tensor<24576xi64>, tensor<4096x6xi64>, tensor<64xi64>) {
  %p:3 = kiln.moe_plan %e {num_experts = 64 : i64} : (tensor<4096x6xi64>) -> (tensor<24576xi64>, tensor<4096x6xi64>, tensor<64xi64>)
  return %p#0, %p#1, %p#2 : tensor<24576xi64>, tensor<4096x6xi64>, tensor<64xi64>
}

// -----

// Only the refused op expands: the routing that feeds a prefill-sized plan
// (4096 pairs) keeps its kernel.
// CHECK-LABEL: func.func @route_feeds_big_plan
// CHECK: kiln.moe_route
// CHECK-NOT: kiln.moe_plan
// CHECK: kiln.argsort
func.func @route_feeds_big_plan(%s: tensor<1024x32xf32>, %b: tensor<32xf32>) -> (tensor<4096xi64>, tensor<1024x4xf32>) {
  %r:2 = kiln.moe_route %s, %b {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 4 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<1024x32xf32>, tensor<32xf32>) -> (tensor<1024x4xi64>, tensor<1024x4xf32>)
  %p:3 = kiln.moe_plan %r#0 {num_experts = 32 : i64} : (tensor<1024x4xi64>) -> (tensor<4096xi64>, tensor<1024x4xi64>, tensor<32xi64>)
  return %p#0, %r#1 : tensor<4096xi64>, tensor<1024x4xf32>
}

// -----

// A route past 64 groups (the kernel's i64 mask) expands.
// CHECK-LABEL: func.func @route_too_many_groups
// CHECK-NOT: kiln.moe_route
// CHECK: kiln.topk
func.func @route_too_many_groups(%s: tensor<4x130xf32>, %b: tensor<130xf32>) -> (tensor<4x2xi64>, tensor<4x2xf32>) {
  %r:2 = kiln.moe_route %s, %b {num_groups = 65 : i64, topk_group = 2 : i64, top_k = 2 : i64, normalize = false, epsilon = 0.0 : f64, scaling = 1.0 : f64} : (tensor<4x130xf32>, tensor<130xf32>) -> (tensor<4x2xi64>, tensor<4x2xf32>)
  return %r#0, %r#1 : tensor<4x2xi64>, tensor<4x2xf32>
}
