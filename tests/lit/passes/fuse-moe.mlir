// kiln-fuse-moe: the dropless MoE dispatch that model code writes becomes
// moe_plan, moe_gate_up and moe_down (passes/FuseMoe.cpp); a layer that differs
// in any piece is left alone.
// RUN: kiln-opt %s --kiln-fuse-moe --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-fuse-moe --split-input-file | kiln-opt --split-input-file > /dev/null

// The layer as DeepseekMoe.cpp writes it (T = 4 tokens, H = 8, top-2 of 4
// experts, I = 6): every unfused op is gone.
// CHECK-LABEL: func.func @moe_layer
// CHECK: %[[ORDER:.*]], %[[SLOT:.*]], %[[OFFSETS:.*]] = kiln.moe_plan %arg1 {num_experts = 4 : i64} : (tensor<4x2xi64>) -> (tensor<8xi64>, tensor<4x2xi64>, tensor<4xi64>)
// CHECK-NEXT: %[[ACT:.*]], %{{.*}}, %{{.*}} = kiln.moe_gate_up %arg0, %arg3, %arg4, %[[ORDER]], %[[OFFSETS]]
// CHECK-NEXT: %[[Y:.*]] = kiln.moe_down %[[ACT]], %arg5, %arg2, %[[ORDER]], %[[SLOT]], %[[OFFSETS]] : (tensor<8x6xbf16>, tensor<4x8x6xbf16>, tensor<4x2xf32>, tensor<8xi64>, tensor<4x2xi64>, tensor<4xi64>) -> tensor<4x8xbf16>
// CHECK-NEXT: return %[[Y]]
func.func @moe_layer(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>) -> (tensor<4x8xbf16>) {
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
  return %y : tensor<4x8xbf16>
}

// -----

// Near miss: tokens of a row are order / 3, not order / k.
// CHECK-LABEL: func.func @wrong_divisor
// CHECK-NOT: kiln.moe_
// CHECK: kiln.scatter_add
func.func @wrong_divisor(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>) -> (tensor<4x8xbf16>) {
  %flat = kiln.reshape %experts {shape = array<i64: 8>} : (tensor<4x2xi64>) -> tensor<8xi64>
  %order = kiln.argsort %flat {axis = 0 : i64, descending = false} : (tensor<8xi64>) -> tensor<8xi64>
  %k = kiln.constant {value = dense<3> : tensor<i64>} : () -> tensor<i64>
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
  return %y : tensor<4x8xbf16>
}

// -----

// Near miss: the activations are also a result of the function.
// CHECK-LABEL: func.func @act_escapes
// CHECK-NOT: kiln.moe_
// CHECK: kiln.scatter_add
func.func @act_escapes(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>) -> (tensor<4x8xbf16>, tensor<8x6xbf16>) {
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
  return %y, %a : tensor<4x8xbf16>, tensor<8x6xbf16>
}

// -----

// Near miss: rows are added to a tensor that is not zero.
// CHECK-LABEL: func.func @nonzero_base
// CHECK-NOT: kiln.moe_
// CHECK: kiln.scatter_add
func.func @nonzero_base(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>) -> (tensor<4x8xbf16>) {
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
  %zeros = kiln.constant {value = dense<1.0> : tensor<4x8xbf16>} : () -> tensor<4x8xbf16>
  %y = kiln.scatter_add %zeros, %tok, %out {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<8xi64>, tensor<8x8xbf16>) -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}

// -----

// Near miss: the gate product reads offsets from another plan.
// CHECK-LABEL: func.func @other_offsets
// CHECK-NOT: kiln.moe_
// CHECK: kiln.scatter_add
func.func @other_offsets(%tokens: tensor<4x8xbf16>, %experts: tensor<4x2xi64>, %weights: tensor<4x2xf32>, %wg: tensor<4x6x8xbf16>, %wu: tensor<4x6x8xbf16>, %wd: tensor<4x8x6xbf16>, %other: tensor<4xi64>) -> (tensor<4x8xbf16>) {
  %flat = kiln.reshape %experts {shape = array<i64: 8>} : (tensor<4x2xi64>) -> tensor<8xi64>
  %order = kiln.argsort %flat {axis = 0 : i64, descending = false} : (tensor<8xi64>) -> tensor<8xi64>
  %k = kiln.constant {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %tok = kiln.div %order, %k : (tensor<8xi64>, tensor<i64>) -> tensor<8xi64>
  %counts = kiln.bincount %flat {length = 4 : i64} : (tensor<8xi64>) -> tensor<4xi64>
  %offsets = kiln.cumsum %counts {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<4xi64>) -> tensor<4xi64>
  %rows = kiln.gather %tokens, %tok {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<8xi64>) -> tensor<8x8xbf16>
  %g = kiln.grouped_matmul %rows, %wg, %other {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<8x8xbf16>, tensor<4x6x8xbf16>, tensor<4xi64>) -> tensor<8x6xbf16>
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
  return %y : tensor<4x8xbf16>
}

// -----

// A graph without a MoE layer is unchanged.
// CHECK-LABEL: func.func @dense
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.silu
// CHECK-NEXT: return
func.func @dense(%x: tensor<4x8xf32>, %w: tensor<8x6xf32>) -> tensor<4x6xf32> {
  %h = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x6xf32>
  %y = kiln.silu %h : (tensor<4x6xf32>) -> tensor<4x6xf32>
  return %y : tensor<4x6xf32>
}
