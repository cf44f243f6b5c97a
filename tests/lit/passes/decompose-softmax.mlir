// softmax and log_softmax expand into max-shifted primitives, in f32 for narrow
// floats (cast in, one cast back) and in the operand type for f32 and f64.
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | kiln-opt > /dev/null

// CHECK-LABEL: func.func @softmax_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xbf16>)
// CHECK: %[[XF:.*]] = kiln.cast %[[X]] {to = f32} : (tensor<2x8xbf16>) -> tensor<2x8xf32>
// CHECK: %[[M:.*]] = kiln.max %[[XF]] {axes = array<i64: 1>, keepdims = true} : (tensor<2x8xf32>) -> tensor<2x1xf32>
// CHECK: %[[D:.*]] = kiln.sub %[[XF]], %[[M]] : (tensor<2x8xf32>, tensor<2x1xf32>) -> tensor<2x8xf32>
// CHECK: %[[E:.*]] = kiln.exp %[[D]]
// CHECK: %[[S:.*]] = kiln.sum %[[E]] {axes = array<i64: 1>, keepdims = true} : (tensor<2x8xf32>) -> tensor<2x1xf32>
// CHECK: %[[P:.*]] = kiln.div %[[E]], %[[S]] : (tensor<2x8xf32>, tensor<2x1xf32>) -> tensor<2x8xf32>
// CHECK: %[[Y:.*]] = kiln.cast %[[P]] {to = bf16} : (tensor<2x8xf32>) -> tensor<2x8xbf16>
// CHECK: return %[[Y]]
// CHECK-NOT: kiln.softmax
func.func @softmax_bf16(%x: tensor<2x8xbf16>) -> tensor<2x8xbf16> {
  %0 = kiln.softmax %x {axis = -1 : i64} : (tensor<2x8xbf16>) -> tensor<2x8xbf16>
  return %0 : tensor<2x8xbf16>
}

// f32 needs no cast; a negative or leading axis is normalised.
// CHECK-LABEL: func.func @softmax_f32_axis0
// CHECK-NOT: kiln.cast
// CHECK: kiln.max %{{.*}} {axes = array<i64: 0>, keepdims = true} : (tensor<4x3xf32>) -> tensor<1x3xf32>
// CHECK: kiln.sub
// CHECK: kiln.exp
// CHECK: kiln.sum %{{.*}} {axes = array<i64: 0>, keepdims = true}
// CHECK: kiln.div
// CHECK-NOT: kiln.cast
// CHECK: return
func.func @softmax_f32_axis0(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = kiln.softmax %x {axis = -2 : i64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// f64 computes in f64, not f32.
// CHECK-LABEL: func.func @softmax_f64
// CHECK-NOT: kiln.cast
// CHECK: kiln.div %{{.*}}, %{{.*}} : (tensor<5xf64>, tensor<1xf64>) -> tensor<5xf64>
// CHECK-NOT: kiln.cast
// CHECK: return
func.func @softmax_f64(%x: tensor<5xf64>) -> tensor<5xf64> {
  %0 = kiln.softmax %x {axis = 0 : i64} : (tensor<5xf64>) -> tensor<5xf64>
  return %0 : tensor<5xf64>
}

// log_softmax = (x - m) - log(sum(exp(x - m))).
// CHECK-LABEL: func.func @log_softmax_f16
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf16>)
// CHECK: %[[XF:.*]] = kiln.cast %[[X]] {to = f32}
// CHECK: %[[M:.*]] = kiln.max %[[XF]] {axes = array<i64: 2>, keepdims = true}
// CHECK: %[[D:.*]] = kiln.sub %[[XF]], %[[M]]
// CHECK: %[[E:.*]] = kiln.exp %[[D]]
// CHECK: %[[S:.*]] = kiln.sum %[[E]] {axes = array<i64: 2>, keepdims = true}
// CHECK: %[[L:.*]] = kiln.log %[[S]] : (tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
// CHECK: %[[R:.*]] = kiln.sub %[[D]], %[[L]] : (tensor<2x3x8xf32>, tensor<2x3x1xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[Y:.*]] = kiln.cast %[[R]] {to = f16}
// CHECK: return %[[Y]]
// CHECK-NOT: kiln.log_softmax
func.func @log_softmax_f16(%x: tensor<2x3x8xf16>) -> tensor<2x3x8xf16> {
  %0 = kiln.log_softmax %x {axis = 2 : i64} : (tensor<2x3x8xf16>) -> tensor<2x3x8xf16>
  return %0 : tensor<2x3x8xf16>
}

// f8 goes through f32 as well.
// CHECK-LABEL: func.func @softmax_f8
// CHECK: kiln.cast %{{.*}} {to = f32} : (tensor<4xf8E4M3FN>) -> tensor<4xf32>
// CHECK: kiln.cast %{{.*}} {to = f8E4M3FN} : (tensor<4xf32>) -> tensor<4xf8E4M3FN>
func.func @softmax_f8(%x: tensor<4xf8E4M3FN>) -> tensor<4xf8E4M3FN> {
  %0 = kiln.softmax %x {axis = 0 : i64} : (tensor<4xf8E4M3FN>) -> tensor<4xf8E4M3FN>
  return %0 : tensor<4xf8E4M3FN>
}
