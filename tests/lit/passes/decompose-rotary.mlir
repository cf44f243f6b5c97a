// rotary splits x into its (a, b) pairs, rotates them in f32 and reassembles them in
// the same layout: interleaved pairs via a [..., D/2, 2] view, else the two halves.
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | kiln-opt > /dev/null

// CHECK-LABEL: func.func @interleaved_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xbf16>, %[[C:.*]]: tensor<3x4xbf16>, %[[S:.*]]: tensor<3x4xbf16>)
// CHECK-DAG: %[[XF:.*]] = kiln.cast %[[X]] {to = f32}
// CHECK-DAG: %[[CF:.*]] = kiln.cast %[[C]] {to = f32}
// CHECK-DAG: %[[SF:.*]] = kiln.cast %[[S]] {to = f32}
// CHECK: %[[V:.*]] = kiln.reshape %[[XF]] {shape = array<i64: 2, 3, 4, 2>}
// CHECK: %[[A:.*]] = kiln.slice %[[V]] {limit = array<i64: 2, 3, 4, 1>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>}
// CHECK: %[[B:.*]] = kiln.slice %[[V]] {limit = array<i64: 2, 3, 4, 2>, start = array<i64: 0, 0, 0, 1>, stride = array<i64: 1, 1, 1, 1>}
// CHECK: %[[C1:.*]] = kiln.reshape %[[CF]] {shape = array<i64: 3, 4, 1>}
// CHECK: %[[S1:.*]] = kiln.reshape %[[SF]] {shape = array<i64: 3, 4, 1>}
// CHECK: %[[AC:.*]] = kiln.mul %[[A]], %[[C1]] : (tensor<2x3x4x1xf32>, tensor<3x4x1xf32>) -> tensor<2x3x4x1xf32>
// CHECK: %[[BS:.*]] = kiln.mul %[[B]], %[[S1]]
// CHECK: %[[RA:.*]] = kiln.sub %[[AC]], %[[BS]]
// CHECK: %[[BC:.*]] = kiln.mul %[[B]], %[[C1]]
// CHECK: %[[AS:.*]] = kiln.mul %[[A]], %[[S1]]
// CHECK: %[[RB:.*]] = kiln.add %[[BC]], %[[AS]]
// CHECK: %[[J:.*]] = kiln.concat %[[RA]], %[[RB]] {axis = 3 : i64} : (tensor<2x3x4x1xf32>, tensor<2x3x4x1xf32>) -> tensor<2x3x4x2xf32>
// CHECK: %[[Y:.*]] = kiln.reshape %[[J]] {shape = array<i64: 2, 3, 8>}
// CHECK: %[[OUT:.*]] = kiln.cast %[[Y]] {to = bf16}
// CHECK: return %[[OUT]]
// CHECK-NOT: kiln.rotary
func.func @interleaved_bf16(%x: tensor<2x3x8xbf16>, %c: tensor<3x4xbf16>, %s: tensor<3x4xbf16>) -> tensor<2x3x8xbf16> {
  %0 = kiln.rotary %x, %c, %s {interleaved = true} : (tensor<2x3x8xbf16>, tensor<3x4xbf16>, tensor<3x4xbf16>) -> tensor<2x3x8xbf16>
  return %0 : tensor<2x3x8xbf16>
}

// CHECK-LABEL: func.func @half_split_f32
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x3x8xf32>, %[[C:.*]]: tensor<1x1x3x4xf32>, %[[S:.*]]: tensor<3x1xf32>)
// CHECK-NOT: kiln.cast
// CHECK: %[[A:.*]] = kiln.slice %[[X]] {limit = array<i64: 1, 2, 3, 4>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>}
// CHECK: %[[B:.*]] = kiln.slice %[[X]] {limit = array<i64: 1, 2, 3, 8>, start = array<i64: 0, 0, 0, 4>, stride = array<i64: 1, 1, 1, 1>}
// CHECK: %[[AC:.*]] = kiln.mul %[[A]], %[[C]] : (tensor<1x2x3x4xf32>, tensor<1x1x3x4xf32>) -> tensor<1x2x3x4xf32>
// CHECK: %[[BS:.*]] = kiln.mul %[[B]], %[[S]] : (tensor<1x2x3x4xf32>, tensor<3x1xf32>) -> tensor<1x2x3x4xf32>
// CHECK: %[[RA:.*]] = kiln.sub %[[AC]], %[[BS]]
// CHECK: %[[BC:.*]] = kiln.mul %[[B]], %[[C]]
// CHECK: %[[AS:.*]] = kiln.mul %[[A]], %[[S]]
// CHECK: %[[RB:.*]] = kiln.add %[[BC]], %[[AS]]
// CHECK: %[[Y:.*]] = kiln.concat %[[RA]], %[[RB]] {axis = 3 : i64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x8xf32>
// CHECK-NOT: kiln.cast
// CHECK: return %[[Y]]
func.func @half_split_f32(%x: tensor<1x2x3x8xf32>, %c: tensor<1x1x3x4xf32>, %s: tensor<3x1xf32>) -> tensor<1x2x3x8xf32> {
  %0 = kiln.rotary %x, %c, %s {interleaved = false} : (tensor<1x2x3x8xf32>, tensor<1x1x3x4xf32>, tensor<3x1xf32>) -> tensor<1x2x3x8xf32>
  return %0 : tensor<1x2x3x8xf32>
}
