// Folders and canonicalization patterns of the kiln ops (ir/KilnOps.cpp).
// RUN: kiln-opt %s --canonicalize --split-input-file | FileCheck %s

// reshape(reshape(x)) keeps only the final shape.
// CHECK-LABEL: func.func @reshape_of_reshape
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[X]] {shape = array<i64: 4, 6>} : (tensor<2x3x4xf32>) -> tensor<4x6xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_of_reshape(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
  %0 = kiln.reshape %x {shape = array<i64: 24>} : (tensor<2x3x4xf32>) -> tensor<24xf32>
  %1 = kiln.reshape %0 {shape = array<i64: 4, 6>} : (tensor<24xf32>) -> tensor<4x6xf32>
  return %1 : tensor<4x6xf32>
}

// -----

// A reshape chain that comes back to the input's shape disappears.
// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]]
func.func @reshape_round_trip(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = kiln.reshape %x {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
  %1 = kiln.reshape %0 {shape = array<i64: 2, 3>} : (tensor<6xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// Ops that do nothing fold to their operand.
// CHECK-LABEL: func.func @identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NOT: kiln.
// CHECK: return %[[X]], %[[X]], %[[X]], %[[X]], %[[X]], %[[X]]
func.func @identities(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = kiln.transpose %x {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = kiln.cast %x {to = f32} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = kiln.reshape %x {shape = array<i64: 2, 3>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = kiln.broadcast_to %x {shape = array<i64: 2, 3>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 2, 3>, stride = array<i64: 1, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = kiln.concat %x {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Ops that change something stay.
// CHECK-LABEL: func.func @not_identities
// CHECK: kiln.transpose
// CHECK: kiln.cast
// CHECK: kiln.broadcast_to
// CHECK: kiln.slice
// CHECK: kiln.concat
func.func @not_identities(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xbf16>, tensor<3x2x2xf32>, tensor<1x2xf32>, tensor<4x2xf32>) {
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %1 = kiln.cast %x {to = bf16} : (tensor<2x2xf32>) -> tensor<2x2xbf16>
  %2 = kiln.broadcast_to %x {shape = array<i64: 3, 2, 2>} : (tensor<2x2xf32>) -> tensor<3x2x2xf32>
  %3 = kiln.slice %x {start = array<i64: 1, 0>, limit = array<i64: 2, 2>, stride = array<i64: 1, 1>} : (tensor<2x2xf32>) -> tensor<1x2xf32>
  %4 = kiln.concat %x, %x {axis = 0 : i64} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  return %0, %1, %2, %3, %4 : tensor<2x2xf32>, tensor<2x2xbf16>, tensor<3x2x2xf32>, tensor<1x2xf32>, tensor<4x2xf32>
}

// -----

// transpose(transpose(x, p1), p2) = transpose(x, [p1[p2[i]]]).
// CHECK-LABEL: func.func @transpose_of_transpose
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[T:.*]] = kiln.transpose %[[X]] {perm = array<i64: 2, 1, 0>} : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT: return %[[T]]
func.func @transpose_of_transpose(%x: tensor<2x3x4xf32>) -> tensor<4x3x2xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 0, 2>} : (tensor<3x4x2xf32>) -> tensor<4x3x2xf32>
  return %1 : tensor<4x3x2xf32>
}

// -----

// Inverse permutations cancel.
// CHECK-LABEL: func.func @transpose_inverse
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: return %[[X]]
func.func @transpose_inverse(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %1 = kiln.transpose %0 {perm = array<i64: 2, 0, 1>} : (tensor<3x4x2xf32>) -> tensor<2x3x4xf32>
  return %1 : tensor<2x3x4xf32>
}

// -----

// Reshape of a constant is a constant; so is broadcast_to of a splat.
// CHECK-LABEL: func.func @constant_folding
// CHECK-DAG: %[[R:.*]] = kiln.constant {value = dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>}
// CHECK-DAG: %[[B:.*]] = kiln.constant {value = dense<7> : tensor<2x3xi32>}
// CHECK-NOT: kiln.reshape
// CHECK-NOT: kiln.broadcast_to
// CHECK: return %[[R]], %[[B]]
func.func @constant_folding() -> (tensor<3x2xf32>, tensor<2x3xi32>) {
  %c = kiln.constant {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
  %0 = kiln.reshape %c {shape = array<i64: 3, 2>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %s = kiln.constant {value = dense<7> : tensor<3xi32>} : () -> tensor<3xi32>
  %1 = kiln.broadcast_to %s {shape = array<i64: 2, 3>} : (tensor<3xi32>) -> tensor<2x3xi32>
  return %0, %1 : tensor<3x2xf32>, tensor<2x3xi32>
}

// -----

// Unused pure ops are removed.
// CHECK-LABEL: func.func @dead_code
// CHECK-NEXT: return %arg0
func.func @dead_code(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = kiln.exp %x : (tensor<4xf32>) -> tensor<4xf32>
  return %x : tensor<4xf32>
}
