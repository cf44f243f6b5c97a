// kiln-expert-parallel: experts marked sharding = "experts" keep E/G per rank,
// the argument, the state table and the ops reading them are retyped, and the
// fused MoE layer exchanges token rows with all_to_all. Unsharded layers, and
// one rank, are left alone.
// RUN: kiln-opt %s --kiln-expert-parallel=group-size=2 | FileCheck %s
// RUN: kiln-opt %s --kiln-expert-parallel=group-size=1 | FileCheck %s --check-prefix=ONE
// RUN: kiln-opt %s --kiln-expert-parallel=group-size=2 --kiln-grad --canonicalize --cse | FileCheck %s --check-prefix=GRAD

// CHECK: name = "wg", sharding = "experts", type = tensor<2x5x4xf32>
// CHECK-LABEL: func.func @layer
// CHECK-SAME: %{{.*}}: tensor<2x5x4xf32> {kiln.state = "wg"}
// CHECK: %[[O:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[OFF:[a-z0-9_]+]] = kiln.moe_plan %arg1 {num_experts = 4 : i64}
// CHECK: kiln.slice %[[OFF]] {limit = array<i64: 4>, start = array<i64: 1>, stride = array<i64: 2>}
// CHECK: %[[ROWS:.*]] = kiln.gather %arg0
// CHECK: %[[SENT:[a-z0-9_]+]], %[[RC:[a-z0-9_]+]] = kiln.all_to_all %[[ROWS]], %{{.*}} {capacity = 12 : i64, group_size = 2 : i64} : (tensor<6x4xf32>, tensor<2xi64>) -> (tensor<12x4xf32>, tensor<2xi64>)
// CHECK: kiln.all_to_all %{{.*}} {capacity = 12 : i64, group_size = 2 : i64} : (tensor<6x1xi64>, tensor<2xi64>)
// CHECK: %[[LO:[a-z0-9_]+]], %{{.*}}, %[[LOFF:[a-z0-9_]+]] = kiln.moe_plan %{{.*}} {num_experts = 2 : i64} : (tensor<12x1xi64>)
// CHECK: kiln.moe_gate_up %[[SENT]], %arg2, %arg3, %[[LO]], %[[LOFF]] : (tensor<12x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>
// CHECK: kiln.moe_down {{.*}} : (tensor<12x5xf32>, tensor<2x4x5xf32>, tensor<12x1xf32>
// CHECK: kiln.all_to_all %{{.*}}, %[[RC]] {capacity = 6 : i64, group_size = 2 : i64} : (tensor<12x4xf32>, tensor<2xi64>) -> (tensor<6x4xf32>, tensor<2xi64>)
// CHECK: kiln.moe_combine
// CHECK: kiln.grad %{{.*}}, %arg2 : (tensor<f32>, tensor<2x5x4xf32>) -> tensor<2x5x4xf32>
// CHECK: kiln.sub %arg2
// CHECK: return {{.*}} : tensor<3x4xf32>, tensor<2x5x4xf32>
// ONE-NOT: kiln.all_to_all
// ONE: tensor<4x5x4xf32> {kiln.state = "wg"}
// GRAD-NOT: kiln.grad
// GRAD-COUNT-4: kiln.all_to_all
// GRAD-NOT: kiln.all_to_all
module attributes {kiln.state = [
    {name = "wg", type = tensor<4x5x4xf32>, kind = "parameter", sharding = "experts"},
    {name = "wu", type = tensor<4x5x4xf32>, kind = "parameter", sharding = "experts"},
    {name = "wd", type = tensor<4x4x5xf32>, kind = "parameter", sharding = "experts"}]} {
  func.func @layer(%x: tensor<3x4xf32> {kiln.name = "x"},
                   %experts: tensor<3x2xi64> {kiln.name = "experts"},
                   %wg: tensor<4x5x4xf32> {kiln.state = "wg"},
                   %wu: tensor<4x5x4xf32> {kiln.state = "wu"},
                   %wd: tensor<4x4x5xf32> {kiln.state = "wd"},
                   %w: tensor<3x2xf32> {kiln.name = "weights"})
      -> (tensor<3x4xf32> {kiln.name = "y"}, tensor<4x5x4xf32> {kiln.state = "wg"}) {
    %p:3 = kiln.moe_plan %experts {num_experts = 4 : i64} : (tensor<3x2xi64>) -> (tensor<6xi64>, tensor<3x2xi64>, tensor<4xi64>)
    %gu:3 = kiln.moe_gate_up %x, %wg, %wu, %p#0, %p#2 : (tensor<3x4xf32>, tensor<4x5x4xf32>, tensor<4x5x4xf32>, tensor<6xi64>, tensor<4xi64>) -> (tensor<6x5xf32>, tensor<6x5xf32>, tensor<6x5xf32>)
    %y = kiln.moe_down %gu#0, %wd, %w, %p#0, %p#1, %p#2 : (tensor<6x5xf32>, tensor<4x4x5xf32>, tensor<3x2xf32>, tensor<6xi64>, tensor<3x2xi64>, tensor<4xi64>) -> tensor<3x4xf32>
    %y2 = kiln.mul %y, %y : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
    %l = kiln.sum %y2 {axes = array<i64: 0, 1>, keepdims = false} : (tensor<3x4xf32>) -> tensor<f32>
    %g = kiln.grad %l, %wg : (tensor<f32>, tensor<4x5x4xf32>) -> tensor<4x5x4xf32>
    %h = kiln.constant {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
    %step = kiln.mul %g, %h : (tensor<4x5x4xf32>, tensor<f32>) -> tensor<4x5x4xf32>
    %new = kiln.sub %wg, %step : (tensor<4x5x4xf32>, tensor<4x5x4xf32>) -> tensor<4x5x4xf32>
    return %y, %new : tensor<3x4xf32>, tensor<4x5x4xf32>
  }
}
