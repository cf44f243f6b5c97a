// cross_entropy and token_logprobs: log_softmax in f32, take_along_axis at the label,
// and 0 for labels outside [0, V) (take_along_axis clamps, the select ignores them).
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | kiln-opt > /dev/null

// CHECK-LABEL: func.func @cross_entropy_bf16
// CHECK-SAME: (%[[L:.*]]: tensor<2x3x8xbf16>, %[[T:.*]]: tensor<2x3xi32>)
// CHECK-DAG: %[[ZERO:.*]] = kiln.constant {value = dense<0.000000e+00> : tensor<f32>}
// CHECK-DAG: %[[V:.*]] = kiln.constant {value = dense<8> : tensor<i64>}
// CHECK-DAG: %[[IZERO:.*]] = kiln.constant {value = dense<0> : tensor<i64>}
// CHECK: %[[LF:.*]] = kiln.cast %[[L]] {to = f32}
// CHECK: %[[M:.*]] = kiln.max %[[LF]] {axes = array<i64: 2>, keepdims = true}
// CHECK: %[[D:.*]] = kiln.sub %[[LF]], %[[M]]
// CHECK: %[[E:.*]] = kiln.exp %[[D]]
// CHECK: %[[S:.*]] = kiln.sum %[[E]] {axes = array<i64: 2>, keepdims = true}
// CHECK: %[[LSE:.*]] = kiln.log %[[S]]
// CHECK: %[[LP:.*]] = kiln.sub %[[D]], %[[LSE]]
// CHECK: %[[I:.*]] = kiln.cast %[[T]] {to = i64} : (tensor<2x3xi32>) -> tensor<2x3xi64>
// CHECK: %[[I1:.*]] = kiln.reshape %[[I]] {shape = array<i64: 2, 3, 1>}
// CHECK: %[[P:.*]] = kiln.take_along_axis %[[LP]], %[[I1]] {axis = 2 : i64} : (tensor<2x3x8xf32>, tensor<2x3x1xi64>) -> tensor<2x3x1xf32>
// CHECK: %[[P2:.*]] = kiln.reshape %[[P]] {shape = array<i64: 2, 3>}
// CHECK: %[[N:.*]] = kiln.neg %[[P2]]
// CHECK: %[[GE:.*]] = kiln.greater_equal %[[I]], %[[IZERO]]
// CHECK: %[[LT:.*]] = kiln.less %[[I]], %[[V]]
// CHECK: %[[OK:.*]] = kiln.logical_and %[[GE]], %[[LT]]
// CHECK: %[[Y:.*]] = kiln.select %[[OK]], %[[N]], %[[ZERO]] : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
// CHECK: %[[OUT:.*]] = kiln.cast %[[Y]] {to = bf16}
// CHECK: return %[[OUT]]
// CHECK-NOT: kiln.cross_entropy
func.func @cross_entropy_bf16(%logits: tensor<2x3x8xbf16>, %labels: tensor<2x3xi32>) -> tensor<2x3xbf16> {
  %0 = kiln.cross_entropy %logits, %labels : (tensor<2x3x8xbf16>, tensor<2x3xi32>) -> tensor<2x3xbf16>
  return %0 : tensor<2x3xbf16>
}

// token_logprobs has no negation; i64 labels need no cast, and an i4 label type is
// compared in i64 (V = 100 does not fit in i4).
// CHECK-LABEL: func.func @token_logprobs_f32
// CHECK-NOT: kiln.cast
// CHECK: kiln.take_along_axis %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<4x100xf32>, tensor<4x1xi64>) -> tensor<4x1xf32>
// CHECK-NOT: kiln.neg
// CHECK: kiln.select
// CHECK-NOT: kiln.token_logprobs
// CHECK-LABEL: func.func @token_logprobs_i4
// CHECK: kiln.cast %{{.*}} {to = i64} : (tensor<4xi4>) -> tensor<4xi64>
// CHECK: kiln.less %{{.*}}, %{{.*}} : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
func.func @token_logprobs_f32(%logits: tensor<4x100xf32>, %tokens: tensor<4xi64>) -> tensor<4xf32> {
  %0 = kiln.token_logprobs %logits, %tokens : (tensor<4x100xf32>, tensor<4xi64>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func @token_logprobs_i4(%logits: tensor<4x100xf32>, %tokens: tensor<4xi4>) -> tensor<4xf32> {
  %0 = kiln.token_logprobs %logits, %tokens : (tensor<4x100xf32>, tensor<4xi4>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// Rank-0 labels (logits [V]).
// CHECK-LABEL: func.func @scalar_label
// CHECK: kiln.reshape %{{.*}} {shape = array<i64: 1>} : (tensor<i64>) -> tensor<1xi64>
// CHECK: kiln.take_along_axis %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<16xf32>, tensor<1xi64>) -> tensor<1xf32>
// CHECK: kiln.reshape %{{.*}} {shape = array<i64>} : (tensor<1xf32>) -> tensor<f32>
func.func @scalar_label(%logits: tensor<16xf32>, %label: tensor<i64>) -> tensor<f32> {
  %0 = kiln.cross_entropy %logits, %label : (tensor<16xf32>, tensor<i64>) -> tensor<f32>
  return %0 : tensor<f32>
}
