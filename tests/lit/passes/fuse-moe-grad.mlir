// kiln-fuse-moe then kiln-grad: the backward of a fused layer returns to
// tokens through moe_combine (a fixed order), never a float scatter_add, and
// every weight gradient is a grouped contract.
// RUN: kiln-opt %s --kiln-fuse-moe --kiln-grad | FileCheck %s

// CHECK-LABEL: func.func @moe_grad
// CHECK: kiln.moe_plan
// CHECK: kiln.moe_gate_up
// CHECK: kiln.moe_down
// CHECK-NOT: kiln.scatter_add {{.*}}xbf16
// CHECK-DAG: kiln.moe_combine {{.*}} -> tensor<4x8xbf16>
// CHECK-DAG: kiln.grouped_matmul {{.*}}<contract>{{.*}} -> tensor<4x6x8xbf16>
// CHECK-DAG: kiln.grouped_matmul {{.*}}<contract>{{.*}} -> tensor<4x8x6xbf16>
// CHECK-NOT: kiln.scatter_add {{.*}}xbf16
// CHECK: return
func.func @moe_grad(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>) -> (tensor<f32>, tensor<4x8xbf16>, tensor<4x6x8xbf16>, tensor<4x8x6xbf16>, tensor<4x2xf32>) {
  %flat = kiln.reshape %experts {shape = array<i64: 8>} : (tensor<4x2xi64>) -> tensor<8xi64>
  %order = kiln.argsort %flat {axis = 0 : i64, descending = false} : (tensor<8xi64>) -> tensor<8xi64>
  %k = kiln.constant {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %tok = kiln.div %order, %k : (tensor<8xi64>, tensor<i64>) -> tensor<8xi64>
  %counts = kiln.bincount %flat {length = 4 : i64} : (tensor<8xi64>) -> tensor<4xi64>
  %offsets = kiln.cumsum %counts {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<4xi64>) -> tensor<4xi64>
  %rows = kiln.gather %tokens, %tok {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<8xi64>) -> tensor<8x8xbf16>
  %g = kiln.grouped_matmul %rows, %wg, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<8x8xbf16>, tensor<4x6x8xbf16>, tensor<4xi64>) -> tensor<8x6xbf16>
  %u = kiln.grouped_matmul %rows, %wu, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<8x8xbf16>, tensor<4x6x8xbf16>, tensor<4xi64>) -> tensor<8x6xbf16>
  %s = kiln.silu %g : (tensor<8x6xbf16>) -> tensor<8x6xbf16>
  %a = kiln.mul %s, %u : (tensor<8x6xbf16>, tensor<8x6xbf16>) -> tensor<8x6xbf16>
  %d = kiln.grouped_matmul %a, %wd, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<8x6xbf16>, tensor<4x8x6xbf16>, tensor<4xi64>) -> tensor<8x8xbf16>
  %wflat = kiln.reshape %weights {shape = array<i64: 8>} : (tensor<4x2xf32>) -> tensor<8xf32>
  %wrow = kiln.gather %wflat, %order {axis = 0 : i64} : (tensor<8xf32>, tensor<8xi64>) -> tensor<8xf32>
  %wcast = kiln.cast %wrow {to = bf16} : (tensor<8xf32>) -> tensor<8xbf16>
  %wcol = kiln.reshape %wcast {shape = array<i64: 8, 1>} : (tensor<8xbf16>) -> tensor<8x1xbf16>
  %out = kiln.mul %d, %wcol : (tensor<8x8xbf16>, tensor<8x1xbf16>) -> tensor<8x8xbf16>
  %zeros = kiln.constant {value = dense<0.0> : tensor<4x8xbf16>} : () -> tensor<4x8xbf16>
  %y = kiln.scatter_add %zeros, %tok, %out {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<8xi64>, tensor<8x8xbf16>) -> tensor<4x8xbf16>
  %y32 = kiln.cast %y {to = f32} : (tensor<4x8xbf16>) -> tensor<4x8xf32>
  %loss = kiln.sum %y32 {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
  %gr:4 = kiln.grad %loss, %tokens, %wg, %wd, %weights : (tensor<f32>, tensor<4x8xbf16>, tensor<4x6x8xbf16>, tensor<4x8x6xbf16>, tensor<4x2xf32>) -> (tensor<4x8xbf16>, tensor<4x6x8xbf16>, tensor<4x8x6xbf16>, tensor<4x2xf32>)
  return %loss, %gr#0, %gr#1, %gr#2, %gr#3 : tensor<f32>, tensor<4x8xbf16>, tensor<4x6x8xbf16>, tensor<4x8x6xbf16>, tensor<4x2xf32>
}
