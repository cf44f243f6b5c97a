// attention: GQA folds the G query heads of a kv head into its rows (k and v are not
// copied); scores in f32; visibility from iota over key j and query i against
// valid_len[b] and i + q_offset[b]; rows that see no key give 0 without NaN.
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | kiln-opt > /dev/null

// CHECK-LABEL: func.func @gqa_causal_lengths
// CHECK-SAME: (%[[Q:.*]]: tensor<2x4x3x8xbf16>, %[[K:.*]]: tensor<2x2x5x8xbf16>, %[[V:.*]]: tensor<2x2x5x6xbf16>, %[[LEN:.*]]: tensor<2xi32>, %[[OFF:.*]]: tensor<2xi64>)
// CHECK-DAG: %[[ONE:.*]] = kiln.constant {value = dense<1.000000e+00> : tensor<f32>}
// CHECK-DAG: %[[ZERO:.*]] = kiln.constant {value = dense<0.000000e+00> : tensor<f32>}
// CHECK-DAG: %[[IZERO:.*]] = kiln.constant {value = dense<0> : tensor<i64>}
// CHECK-DAG: %[[NEGINF:.*]] = kiln.constant {value = dense<0xFF800000> : tensor<f32>}
// CHECK-DAG: %[[SCALE:.*]] = kiln.constant {value = dense<3.500000e-01> : tensor<f32>}
// CHECK-DAG: %[[QF:.*]] = kiln.cast %[[Q]] {to = f32}
// CHECK-DAG: %[[KF:.*]] = kiln.cast %[[K]] {to = f32}
// CHECK-DAG: %[[VF:.*]] = kiln.cast %[[V]] {to = f32}
// CHECK: %[[QR:.*]] = kiln.reshape %[[QF]] {shape = array<i64: 2, 2, 6, 8>}
// CHECK: %[[QK:.*]] = kiln.matmul %[[QR]], %[[KF]] {transpose_a = false, transpose_b = true} : (tensor<2x2x6x8xf32>, tensor<2x2x5x8xf32>) -> tensor<2x2x6x5xf32>
// CHECK: %[[SC:.*]] = kiln.mul %[[QK]], %[[SCALE]]
// CHECK: %[[S5:.*]] = kiln.reshape %[[SC]] {shape = array<i64: 2, 2, 2, 3, 5>}
// CHECK: %[[J:.*]] = kiln.iota {dimension = 1 : i64} : () -> tensor<1x5xi64>
// CHECK: %[[LEN64:.*]] = kiln.cast %[[LEN]] {to = i64}
// CHECK: %[[LENB:.*]] = kiln.reshape %[[LEN64]] {shape = array<i64: 2, 1, 1>}
// CHECK: %[[INLEN:.*]] = kiln.less %[[J]], %[[LENB]] : (tensor<1x5xi64>, tensor<2x1x1xi64>) -> tensor<2x1x5xi1>
// CHECK: %[[I:.*]] = kiln.iota {dimension = 0 : i64} : () -> tensor<3x1xi64>
// CHECK: %[[OFFB:.*]] = kiln.reshape %[[OFF]] {shape = array<i64: 2, 1, 1>}
// CHECK: %[[LIM:.*]] = kiln.add %[[I]], %[[OFFB]] : (tensor<3x1xi64>, tensor<2x1x1xi64>) -> tensor<2x3x1xi64>
// CHECK: %[[CAUSAL:.*]] = kiln.less_equal %[[J]], %[[LIM]] : (tensor<1x5xi64>, tensor<2x3x1xi64>) -> tensor<2x3x5xi1>
// CHECK: %[[VIS:.*]] = kiln.logical_and %[[INLEN]], %[[CAUSAL]]
// CHECK: %[[VIS5:.*]] = kiln.reshape %[[VIS]] {shape = array<i64: 2, 1, 1, 3, 5>}
// CHECK: %[[MASKED:.*]] = kiln.select %[[VIS5]], %[[S5]], %[[NEGINF]] : (tensor<2x1x1x3x5xi1>, tensor<2x2x2x3x5xf32>, tensor<f32>) -> tensor<2x2x2x3x5xf32>
// CHECK: %[[CNT:.*]] = kiln.cast %[[VIS5]] {to = i64}
// CHECK: %[[NVIS:.*]] = kiln.sum %[[CNT]] {axes = array<i64: -1>, keepdims = true}
// CHECK: %[[ANY:.*]] = kiln.greater %[[NVIS]], %[[IZERO]] : (tensor<2x1x1x3x1xi64>, tensor<i64>) -> tensor<2x1x1x3x1xi1>
// CHECK: %[[M:.*]] = kiln.max %[[MASKED]] {axes = array<i64: 4>, keepdims = true}
// CHECK: %[[SHIFT:.*]] = kiln.select %[[ANY]], %[[M]], %[[ZERO]]
// CHECK: %[[D:.*]] = kiln.sub %[[MASKED]], %[[SHIFT]]
// CHECK: %[[E:.*]] = kiln.exp %[[D]]
// CHECK: %[[TOT:.*]] = kiln.sum %[[E]] {axes = array<i64: 4>, keepdims = true}
// CHECK: %[[TOTS:.*]] = kiln.select %[[ANY]], %[[TOT]], %[[ONE]]
// CHECK: %[[P:.*]] = kiln.div %[[E]], %[[TOTS]]
// CHECK: %[[P4:.*]] = kiln.reshape %[[P]] {shape = array<i64: 2, 2, 6, 5>}
// CHECK: %[[O:.*]] = kiln.matmul %[[P4]], %[[VF]] {transpose_a = false, transpose_b = false} : (tensor<2x2x6x5xf32>, tensor<2x2x5x6xf32>) -> tensor<2x2x6x6xf32>
// CHECK: %[[O4:.*]] = kiln.reshape %[[O]] {shape = array<i64: 2, 4, 3, 6>}
// CHECK: %[[OUT:.*]] = kiln.cast %[[O4]] {to = bf16}
// CHECK: return %[[OUT]]
// CHECK-NOT: kiln.attention
func.func @gqa_causal_lengths(%q: tensor<2x4x3x8xbf16>, %k: tensor<2x2x5x8xbf16>, %v: tensor<2x2x5x6xbf16>, %len: tensor<2xi32>, %off: tensor<2xi64>) -> tensor<2x4x3x6xbf16> {
  %0 = kiln.attention %q, %k, %v, %len, %off {scale = 0.35 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<2x4x3x8xbf16>, tensor<2x2x5x8xbf16>, tensor<2x2x5x6xbf16>, tensor<2xi32>, tensor<2xi64>) -> tensor<2x4x3x6xbf16>
  return %0 : tensor<2x4x3x6xbf16>
}

// No mask at all: a plain softmax; one kv head per query head keeps rank 4.
// CHECK-LABEL: func.func @mha_unmasked
// CHECK-NOT: kiln.cast
// CHECK-NOT: kiln.reshape
// CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_a = false, transpose_b = true} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x5xf32>
// CHECK-NOT: kiln.select
// CHECK-NOT: kiln.iota
// CHECK: kiln.max
// CHECK: kiln.exp
// CHECK: kiln.sum
// CHECK: kiln.div
// CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_a = false, transpose_b = false} : (tensor<1x2x3x5xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK-NOT: kiln.reshape
// CHECK: return
func.func @mha_unmasked(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32> {
  %0 = kiln.attention %q, %k, %v {scale = 0.5 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
  return %0 : tensor<1x2x3x4xf32>
}

// Causal without offsets: an [Sq, Sk] mask that needs no batch placement.
// CHECK-LABEL: func.func @causal_only
// CHECK: %[[J:.*]] = kiln.iota {dimension = 1 : i64} : () -> tensor<1x5xi64>
// CHECK: %[[I:.*]] = kiln.iota {dimension = 0 : i64} : () -> tensor<3x1xi64>
// CHECK: %[[VIS:.*]] = kiln.less_equal %[[J]], %[[I]] : (tensor<1x5xi64>, tensor<3x1xi64>) -> tensor<3x5xi1>
// CHECK: kiln.select %[[VIS]], %{{.*}}, %{{.*}} : (tensor<3x5xi1>, tensor<1x2x3x5xf32>, tensor<f32>) -> tensor<1x2x3x5xf32>
// CHECK: kiln.sum %{{.*}} {axes = array<i64: -1>, keepdims = true} : (tensor<3x5xi64>) -> tensor<3x1xi64>
func.func @causal_only(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32> {
  %0 = kiln.attention %q, %k, %v {scale = 0.5 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
  return %0 : tensor<1x2x3x4xf32>
}

// q_offset without causal has no effect; valid_len alone masks keys per batch.
// CHECK-LABEL: func.func @lengths_only
// CHECK-NOT: kiln.less_equal
// CHECK: %[[VIS:.*]] = kiln.less %{{.*}}, %{{.*}} : (tensor<1x5xi64>, tensor<3x1x1xi64>) -> tensor<3x1x5xi1>
// CHECK: kiln.reshape %[[VIS]] {shape = array<i64: 3, 1, 1, 5>} : (tensor<3x1x5xi1>) -> tensor<3x1x1x5xi1>
// CHECK-NOT: kiln.less_equal
// CHECK: return
func.func @lengths_only(%q: tensor<3x2x1x4xf64>, %k: tensor<3x2x5x4xf64>, %v: tensor<3x2x5x4xf64>, %len: tensor<3xi64>, %off: tensor<3xi64>) -> tensor<3x2x1x4xf64> {
  %0 = kiln.attention %q, %k, %v, %len, %off {scale = 0.5 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<3x2x1x4xf64>, tensor<3x2x5x4xf64>, tensor<3x2x5x4xf64>, tensor<3xi64>, tensor<3xi64>) -> tensor<3x2x1x4xf64>
  return %0 : tensor<3x2x1x4xf64>
}
