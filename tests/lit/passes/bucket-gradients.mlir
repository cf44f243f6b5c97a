// kiln-bucket-gradients groups the data-parallel gradient all_reduces in the
// order the backward computes them: one all_reduce of the concatenation,
// right after the last gradient of its bucket, and slices back. A bucket
// limit of 64 bytes keeps the 36-byte w1 and the 36-byte w2 apart.
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 --kiln-grad --kiln-bucket-gradients | FileCheck %s
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 --kiln-grad --kiln-bucket-gradients=bucket-bytes=64 | FileCheck %s --check-prefix=SMALL

// What reads the bucket (slices, reshapes, the average) moves as late as the
// program allows: after the loss's all_reduce, just before the return.
// CHECK-LABEL: func.func @step
// CHECK: %[[CAT:.*]] = kiln.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<9xf32>, tensor<9xf32>) -> tensor<18xf32>
// CHECK-NEXT: %[[ALL:.*]] = kiln.all_reduce %[[CAT]] {group_size = 2 : i64, reduction = "sum"} : (tensor<18xf32>) -> tensor<18xf32>
// CHECK-NOT: kiln.slice
// The loss's average is not a gradient: it stays whole.
// CHECK: kiln.all_reduce %{{.*}} {group_size = 2 : i64, reduction = "sum"} : (tensor<f32>) -> tensor<f32>
// CHECK: kiln.slice %[[ALL]]
// CHECK: kiln.slice %[[ALL]]
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.mul
// CHECK-NEXT: return
// CHECK-NOT: kiln.all_reduce
// CHECK-NOT: kiln.gradient
// SMALL-COUNT-3: kiln.all_reduce
// SMALL-NOT: kiln.concat
module attributes {kiln.state = [
    {name = "w1", type = tensor<3x3xf32>, kind = "parameter"},
    {name = "w2", type = tensor<3x3xf32>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x3xf32> {kiln.name = "x"},
                  %w1: tensor<3x3xf32> {kiln.state = "w1"},
                  %w2: tensor<3x3xf32> {kiln.state = "w2"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<3x3xf32> {kiln.name = "d1"},
          tensor<3x3xf32> {kiln.name = "d2"}) {
    %h = kiln.matmul %x, %w1 {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %t = kiln.tanh %h : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %y = kiln.matmul %t, %w2 {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %l = kiln.mean %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<f32>
    %g:2 = kiln.grad %l, %w1, %w2 : (tensor<f32>, tensor<3x3xf32>, tensor<3x3xf32>) -> (tensor<3x3xf32>, tensor<3x3xf32>)
    return %l, %g#0, %g#1 : tensor<f32>, tensor<3x3xf32>, tensor<3x3xf32>
  }
}
