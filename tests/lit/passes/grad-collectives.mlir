// The gradients of the collectives move cotangents back along the same links
// (the objective is the sum of every rank's loss): all_reduce is its own
// transpose, all_gather and reduce_scatter swap, all_to_all reverses with the
// received counts, and send and recv swap even where the loss does not read
// the value.
// RUN: kiln-opt %s --kiln-grad | FileCheck %s

// CHECK-LABEL: func.func @reduce_gather
// CHECK: kiln.all_gather %arg0 {axis = 0 : i64, group_size = 2 : i64}
// CHECK: kiln.all_reduce %{{.*}} {group_size = 2 : i64, reduction = "sum"}
// CHECK: kiln.all_reduce %{{.*}} {group_size = 2 : i64, reduction = "sum"}
// CHECK: kiln.reduce_scatter %{{.*}} {axis = 0 : i64, group_size = 2 : i64} : (tensor<4x3xf32>) -> tensor<2x3xf32>
func.func @reduce_gather(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %g = kiln.all_gather %x {axis = 0 : i64, group_size = 2 : i64} : (tensor<2x3xf32>) -> tensor<4x3xf32>
  %r = kiln.all_reduce %g {reduction = "sum", group_size = 2 : i64} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  %l = kiln.sum %r {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x3xf32>) -> tensor<f32>
  %d = kiln.grad %l, %x : (tensor<f32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %d : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @dispatch
// CHECK: %{{.*}}, %[[YC:.*]] = kiln.all_to_all %arg0, %arg1 {capacity = 8 : i64, group_size = 2 : i64}
// CHECK: kiln.all_to_all %{{.*}}, %[[YC]] {capacity = 4 : i64, group_size = 2 : i64} : (tensor<8x3xf32>, tensor<2xi64>) -> (tensor<4x3xf32>, tensor<2xi64>)
func.func @dispatch(%x: tensor<4x3xf32>, %c: tensor<2xi64>) -> tensor<4x3xf32> {
  %y:2 = kiln.all_to_all %x, %c {capacity = 8 : i64, group_size = 2 : i64} : (tensor<4x3xf32>, tensor<2xi64>) -> (tensor<8x3xf32>, tensor<2xi64>)
  %l = kiln.sum %y#0 {axes = array<i64: 0, 1>, keepdims = false} : (tensor<8x3xf32>) -> tensor<f32>
  %d = kiln.grad %l, %x : (tensor<f32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  return %d : tensor<4x3xf32>
}

// A pipeline stage: it sends its activations on and receives their cotangent
// back; an unrelated recv still sends zeros back so its peer does not wait.
// CHECK-LABEL: func.func @stage
// CHECK: kiln.send %{{.*}} {group_size = 2 : i64, peer = 1 : i64}
// CHECK: %[[R:.*]] = kiln.recv {group_size = 2 : i64, peer = 1 : i64, type = tensor<3xf32>}
// CHECK: kiln.send %{{.*}} {group_size = 2 : i64, peer = 1 : i64} : (tensor<3xf32>) -> ()
// CHECK: kiln.recv {group_size = 2 : i64, peer = 1 : i64, type = tensor<3xf32>}
// CHECK: kiln.mul %{{.*}}, %{{.*}}
func.func @stage(%x: tensor<3xf32>, %w: tensor<3xf32>) -> tensor<3xf32> {
  %h = kiln.mul %x, %w : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  kiln.send %h {peer = 1 : i64, group_size = 2 : i64} : (tensor<3xf32>) -> ()
  %other = kiln.recv {peer = 1 : i64, group_size = 2 : i64, type = tensor<3xf32>} : () -> tensor<3xf32>
  %l = kiln.sum %w {axes = array<i64: 0>, keepdims = false} : (tensor<3xf32>) -> tensor<f32>
  %d = kiln.grad %l, %w : (tensor<f32>, tensor<3xf32>) -> tensor<3xf32>
  return %d : tensor<3xf32>
}
