// Textual IR round-trips: parse, print, parse again, print the same.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s -mlir-print-op-generic | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>) {
  // CHECK: kiln.add %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.gelu
  %1 = kiln.gelu %0 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  // CHECK: kiln.less
  %2 = kiln.less %1, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  return %1, %2 : tensor<2x3xf32>, tensor<2x3xi1>
}

// CHECK-LABEL: func.func @model_ops
func.func @model_ops(%q: tensor<1x4x3x8xbf16>, %k: tensor<1x2x5x8xbf16>, %v: tensor<1x2x5x6xbf16>, %len: tensor<1xi64>) -> tensor<1x4x3x6xbf16> {
  // CHECK: kiln.attention {{.*}}causal = true
  %0 = kiln.attention %q, %k, %v, %len {scale = 0.35 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<1x4x3x8xbf16>, tensor<1x2x5x8xbf16>, tensor<1x2x5x6xbf16>, tensor<1xi64>) -> tensor<1x4x3x6xbf16>
  return %0 : tensor<1x4x3x6xbf16>
}

// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<10x4xf32>, %w: tensor<3x4x5xf32>, %offs: tensor<3xi64>, %dy: tensor<10x5xf32>) -> (tensor<10x5xf32>, tensor<3x4x5xf32>, tensor<10x2xf32>, tensor<10x2xi64>) {
  // CHECK: kiln.grouped_matmul {{.*}}mode = #kiln.grouped_mode<rows>
  %y = kiln.grouped_matmul %x, %w, %offs {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<10x4xf32>, tensor<3x4x5xf32>, tensor<3xi64>) -> tensor<10x5xf32>
  // CHECK: kiln.grouped_matmul {{.*}}mode = #kiln.grouped_mode<contract>
  %dw = kiln.grouped_matmul %x, %dy, %offs {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<10x4xf32>, tensor<10x5xf32>, tensor<3xi64>) -> tensor<3x4x5xf32>
  // CHECK: kiln.topk
  %vals, %idx = kiln.topk %y {k = 2 : i64} : (tensor<10x5xf32>) -> (tensor<10x2xf32>, tensor<10x2xi64>)
  return %y, %dw, %vals, %idx : tensor<10x5xf32>, tensor<3x4x5xf32>, tensor<10x2xf32>, tensor<10x2xi64>
}

// CHECK-LABEL: func.func @sources
func.func @sources(%key: tensor<i64>) -> (tensor<4x3xi64>, tensor<8xf32>, tensor<2x2xf16>) {
  // CHECK: kiln.iota
  %0 = kiln.iota {dimension = 1 : i64} : () -> tensor<4x3xi64>
  // CHECK: kiln.random_uniform
  %1 = kiln.random_uniform %key : (tensor<i64>) -> tensor<8xf32>
  // CHECK: kiln.constant
  %2 = kiln.constant {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf16>} : () -> tensor<2x2xf16>
  return %0, %1, %2 : tensor<4x3xi64>, tensor<8xf32>, tensor<2x2xf16>
}
