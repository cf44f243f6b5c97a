// kiln-expand-unfused-attention keeps the attention ops the fused ptx kernel
// runs (every score of a query row in shared memory) and expands the others
// into primitives, softmax included.
// RUN: kiln-opt %s --kiln-expand-unfused-attention --split-input-file | FileCheck %s

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
