// kiln-data-parallel averages the gradients of replicated parameters and the
// returned loss over the ranks; inputs' gradients stay local, a sharded
// parameter's gradient is only scaled, and one rank leaves the module alone.
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 | FileCheck %s
// RUN: kiln-opt %s --kiln-data-parallel=group-size=1 | FileCheck %s --check-prefix=ONE
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 --kiln-grad --canonicalize --cse | FileCheck %s --check-prefix=GRAD

// CHECK-LABEL: func.func @step
// CHECK: %[[G:.*]]:3 = kiln.grad %[[L:.*]], %arg0, %arg1, %arg2
// CHECK-NEXT: %[[S:.*]] = kiln.all_reduce %[[G]]#1 {group_size = 2 : i64, kiln.gradient, reduction = "sum"}
// CHECK-NEXT: %[[H:.*]] = kiln.constant {value = dense<5.000000e-01> : tensor<f32>}
// CHECK-NEXT: %[[M:.*]] = kiln.mul %[[S]], %[[H]]
// CHECK: %[[E:.*]] = kiln.mul %[[G]]#2
// CHECK-NEXT: %[[LS:.*]] = kiln.all_reduce %[[L]] {group_size = 2 : i64, reduction = "sum"}
// CHECK: %[[LM:.*]] = kiln.mul %[[LS]]
// CHECK-NOT: kiln.all_reduce
// CHECK: return %[[LM]], %[[G]]#0, %[[M]], %[[E]]
// ONE-NOT: kiln.all_reduce
// GRAD-NOT: kiln.grad
// GRAD-COUNT-2: kiln.all_reduce
// GRAD-NOT: kiln.all_reduce
module attributes {kiln.state = [
    {name = "w", type = tensor<3x3xf32>, kind = "parameter"},
    {name = "experts", type = tensor<3x3xf32>, kind = "parameter", sharding = "experts"}]} {
  func.func @step(%x: tensor<2x3xf32> {kiln.name = "x"},
                  %w: tensor<3x3xf32> {kiln.state = "w"},
                  %e: tensor<3x3xf32> {kiln.state = "experts"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<2x3xf32> {kiln.name = "dx"},
          tensor<3x3xf32> {kiln.name = "dw"}, tensor<3x3xf32> {kiln.name = "de"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %z = kiln.matmul %y, %e {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %l = kiln.mean %z {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<f32>
    %g:3 = kiln.grad %l, %x, %w, %e : (tensor<f32>, tensor<2x3xf32>, tensor<3x3xf32>, tensor<3x3xf32>) -> (tensor<2x3xf32>, tensor<3x3xf32>, tensor<3x3xf32>)
    return %l, %g#0, %g#1, %g#2 : tensor<f32>, tensor<2x3xf32>, tensor<3x3xf32>, tensor<3x3xf32>
  }
}
