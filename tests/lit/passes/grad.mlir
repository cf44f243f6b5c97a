// kiln-grad replaces kiln.grad with the backward ops built from each op's rule.
// RUN: kiln-opt %s --kiln-grad | FileCheck %s
// RUN: kiln-opt %s --kiln-grad --canonicalize --cse | FileCheck %s --check-prefix=OPT

// d/dx sum(x * w) = w (broadcast back), d/dw = sum over rows of x.
// CHECK-LABEL: func.func @mul_sum
// CHECK-NOT: kiln.grad
// CHECK: kiln.mul
// CHECK: kiln.sum
// CHECK: kiln.broadcast_to
// CHECK: return
func.func @mul_sum(%x: tensor<3x4xf32>, %w: tensor<4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>) {
  %y = kiln.mul %x, %w : (tensor<3x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %l = kiln.sum %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<3x4xf32>) -> tensor<f32>
  %g:2 = kiln.grad %l, %x, %w : (tensor<f32>, tensor<3x4xf32>, tensor<4xf32>) -> (tensor<3x4xf32>, tensor<4xf32>)
  return %g#0, %g#1 : tensor<3x4xf32>, tensor<4xf32>
}

// A value the loss does not depend on gets zeros.
// OPT-LABEL: func.func @independent
// OPT: %[[Z:.*]] = kiln.constant {value = dense<0.000000e+00> : tensor<2xf32>}
// OPT: return %{{.*}}, %[[Z]]
func.func @independent(%x: tensor<2xf32>, %unused: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %e = kiln.exp %x : (tensor<2xf32>) -> tensor<2xf32>
  %l = kiln.sum %e {axes = array<i64: 0>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>
  %g:2 = kiln.grad %l, %x, %unused : (tensor<f32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>)
  return %g#0, %g#1 : tensor<2xf32>, tensor<2xf32>
}

// Ops in a remat group are cloned into the backward pass: the exp runs twice.
// CHECK-LABEL: func.func @remat
// CHECK: kiln.exp %arg0 {kiln.remat = 0 : i64}
// CHECK: kiln.exp %arg0 :
// CHECK-NOT: kiln.remat
// CHECK: return
func.func @remat(%x: tensor<2xf32>) -> tensor<2xf32> {
  %e = kiln.exp %x {kiln.remat = 0 : i64} : (tensor<2xf32>) -> tensor<2xf32>
  %l = kiln.sum %e {axes = array<i64: 0>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>
  %g = kiln.grad %l, %x : (tensor<f32>, tensor<2xf32>) -> tensor<2xf32>
  return %g : tensor<2xf32>
}
