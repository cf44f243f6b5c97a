// kiln-expand-collectives leaves only byte-moving collectives: all_reduce is an
// exchange of 1/G blocks, a reduction in f32 and an all_gather; reduce_scatter
// drops the all_gather; an inner-axis all_gather becomes one on axis 0 and a
// transpose.
// RUN: kiln-opt %s --kiln-expand-collectives | FileCheck %s

// CHECK-LABEL: func.func @all_reduce
// CHECK-NOT: kiln.all_reduce
// CHECK: kiln.concat
// CHECK: %[[B:.*]] = kiln.reshape %{{.*}} {shape = array<i64: 2, 8>}
// CHECK: %[[R:.*]], %{{.*}} = kiln.all_to_all %[[B]], %{{.*}} {capacity = 2 : i64, group_size = 2 : i64}
// CHECK: kiln.cast %[[R]] {to = f32}
// CHECK: kiln.sum %{{.*}} {axes = array<i64: 0>, keepdims = false}
// CHECK: kiln.cast %{{.*}} {to = bf16}
// CHECK: kiln.all_gather %{{.*}} {axis = 0 : i64, group_size = 2 : i64} : (tensor<8xbf16>) -> tensor<16xbf16>
// CHECK: kiln.slice
func.func @all_reduce(%x: tensor<3x5xbf16>) -> tensor<3x5xbf16> {
  %0 = kiln.all_reduce %x {reduction = "sum", group_size = 2 : i64} : (tensor<3x5xbf16>) -> tensor<3x5xbf16>
  return %0 : tensor<3x5xbf16>
}

// CHECK-LABEL: func.func @reduce_scatter
// CHECK-NOT: kiln.reduce_scatter
// CHECK: kiln.transpose %{{.*}} {perm = array<i64: 1, 0, 2>} : (tensor<2x2x6xf32>) -> tensor<2x2x6xf32>
// CHECK: kiln.all_to_all
// CHECK: kiln.sum
// CHECK-NOT: kiln.all_gather
func.func @reduce_scatter(%x: tensor<2x4x3xf32>) -> tensor<2x2x3xf32> {
  %0 = kiln.reduce_scatter %x {axis = 1 : i64, group_size = 2 : i64} : (tensor<2x4x3xf32>) -> tensor<2x2x3xf32>
  return %0 : tensor<2x2x3xf32>
}

// CHECK-LABEL: func.func @gathers
// CHECK: kiln.all_gather %{{.*}} {axis = 0 : i64, group_size = 2 : i64} : (tensor<1x12xf32>) -> tensor<2x12xf32>
// CHECK: kiln.transpose
// CHECK: kiln.all_gather %arg0 {axis = 0 : i64, group_size = 2 : i64} : (tensor<4x3xf32>) -> tensor<8x3xf32>
func.func @gathers(%x: tensor<4x3xf32>) -> (tensor<4x6xf32>, tensor<8x3xf32>) {
  %0 = kiln.all_gather %x {axis = 1 : i64, group_size = 2 : i64} : (tensor<4x3xf32>) -> tensor<4x6xf32>
  %1 = kiln.all_gather %x {axis = 0 : i64, group_size = 2 : i64} : (tensor<4x3xf32>) -> tensor<8x3xf32>
  return %0, %1 : tensor<4x6xf32>, tensor<8x3xf32>
}
