// kiln-assign-precision policy int4 (weight-only, inference): the weight is
// quantized group-wise along K (groups of 128 over the stored [N, K], a
// partial last group of 44) and dequantized in front of the unchanged
// matmul; the activations stay bf16. The experts' weights of a "rows"
// grouped_matmul ([E, N, K] with transpose_w) are quantized the same way in
// front of the unchanged grouped_matmul. A module that differentiates is
// refused.
// RUN: kiln-opt %s --split-input-file --kiln-assign-precision=policy=int4 --kiln-lower-precision --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @generate
// CHECK: %[[Q:.*]], %[[S:.*]] = kiln.quantize %arg1 {block = array<i64: 1, 128>, dtype = i4} : (tensor<256x300xbf16>) -> (tensor<256x300xi4>, tensor<256x3xf32>)
// CHECK-NEXT: %[[W:.*]] = kiln.dequantize %[[Q]], %[[S]] {block = array<i64: 1, 128>, dtype = bf16}
// CHECK-NEXT: kiln.matmul %arg0, %[[W]] {transpose_a = false, transpose_b = true}
// CHECK-NOT: kiln.precision
module attributes {kiln.state = [
    {name = "layers.0.mlp.up_proj.weight", type = tensor<256x300xbf16>, kind = "parameter"}]} {
  func.func @generate(%x: tensor<2x3x300xbf16> {kiln.name = "x"},
                      %w: tensor<256x300xbf16> {kiln.state = "layers.0.mlp.up_proj.weight"})
      -> (tensor<2x3x256xbf16> {kiln.name = "y"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<2x3x300xbf16>, tensor<256x300xbf16>) -> tensor<2x3x256xbf16>
    return %y : tensor<2x3x256xbf16>
  }
}

// -----

module attributes {kiln.state = [
    {name = "w", type = tensor<8x8xf32>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x8xf32> {kiln.name = "x"},
                  %w: tensor<8x8xf32> {kiln.state = "w"}) -> (tensor<8x8xf32> {kiln.name = "dw"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %l = kiln.sum %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x8xf32>) -> tensor<f32>
    // expected-error @+1 {{kiln-assign-precision: int4 quantizes weights for inference only, and this module differentiates (kiln.grad); train in bf16 or fp8}}
    %g = kiln.grad %l, %w : (tensor<f32>, tensor<8x8xf32>) -> (tensor<8x8xf32>)
    return %g : tensor<8x8xf32>
  }
}

// -----

// CHECK-LABEL: func.func @experts
// CHECK: %[[Q:.*]], %[[S:.*]] = kiln.quantize %arg1 {block = array<i64: 1, 1, 128>, dtype = i4} : (tensor<4x64x256xbf16>) -> (tensor<4x64x256xi4>, tensor<4x64x2xf32>)
// CHECK-NEXT: %[[W:.*]] = kiln.dequantize %[[Q]], %[[S]] {block = array<i64: 1, 1, 128>, dtype = bf16}
// CHECK-NEXT: kiln.grouped_matmul %arg0, %[[W]], %arg2 {mode = #kiln.grouped_mode<rows>, transpose_w = true}
// CHECK-NOT: kiln.precision
module attributes {kiln.state = [
    {name = "layers.1.mlp.experts.gate_proj", type = tensor<4x64x256xbf16>, kind = "parameter"}]} {
  func.func @experts(%x: tensor<10x256xbf16> {kiln.name = "x"},
                     %w: tensor<4x64x256xbf16> {kiln.state = "layers.1.mlp.experts.gate_proj"},
                     %offsets: tensor<4xi64> {kiln.name = "offsets"})
      -> (tensor<10x64xbf16> {kiln.name = "y"}) {
    %y = kiln.grouped_matmul %x, %w, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<10x256xbf16>, tensor<4x64x256xbf16>, tensor<4xi64>) -> tensor<10x64xbf16>
    return %y : tensor<10x64xbf16>
  }
}

// -----

// The fused MoE ops (kiln-fuse-moe's moe_gate_up and moe_down) read HF's
// [E, I, H] gate and up and [E, H, I] down weights, K last: each is quantized
// in groups along it and dequantized in front of the unchanged op (which
// kiln-decompose later turns into grouped_matmuls reading the dequantize).
// CHECK-LABEL: func.func @fused_experts
// CHECK: %[[QG:.*]], %[[SG:.*]] = kiln.quantize %arg1 {block = array<i64: 1, 1, 128>, dtype = i4} : (tensor<4x64x256xbf16>)
// CHECK-NEXT: %[[G:.*]] = kiln.dequantize %[[QG]], %[[SG]]
// CHECK-NEXT: %[[QU:.*]], %[[SU:.*]] = kiln.quantize %arg2 {block = array<i64: 1, 1, 128>, dtype = i4}
// CHECK-NEXT: %[[U:.*]] = kiln.dequantize %[[QU]], %[[SU]]
// CHECK-NEXT: %[[ACT:[a-z0-9_]+]], %{{.*}}, %{{.*}} = kiln.moe_gate_up %arg0, %[[G]], %[[U]], %arg4, %arg6
// CHECK-NEXT: %[[QD:.*]], %[[SD:.*]] = kiln.quantize %arg3 {block = array<i64: 1, 1, 128>, dtype = i4} : (tensor<4x256x64xbf16>) -> (tensor<4x256x64xi4>, tensor<4x256x1xf32>)
// CHECK-NEXT: %[[D:.*]] = kiln.dequantize %[[QD]], %[[SD]]
// CHECK-NEXT: kiln.moe_down %[[ACT]], %[[D]]
// CHECK-NOT: kiln.precision
module attributes {kiln.state = [
    {name = "layers.1.mlp.experts.gate_proj", type = tensor<4x64x256xbf16>, kind = "parameter"},
    {name = "layers.1.mlp.experts.up_proj", type = tensor<4x64x256xbf16>, kind = "parameter"},
    {name = "layers.1.mlp.experts.down_proj", type = tensor<4x256x64xbf16>, kind = "parameter"}]} {
  func.func @fused_experts(%x: tensor<3x256xbf16> {kiln.name = "x"},
                           %wg: tensor<4x64x256xbf16> {kiln.state = "layers.1.mlp.experts.gate_proj"},
                           %wu: tensor<4x64x256xbf16> {kiln.state = "layers.1.mlp.experts.up_proj"},
                           %wd: tensor<4x256x64xbf16> {kiln.state = "layers.1.mlp.experts.down_proj"},
                           %order: tensor<6xi64> {kiln.name = "order"},
                           %slot: tensor<3x2xi64> {kiln.name = "slot"},
                           %offsets: tensor<4xi64> {kiln.name = "offsets"},
                           %w: tensor<3x2xf32> {kiln.name = "w"})
      -> (tensor<3x256xbf16> {kiln.name = "y"}) {
    %gu:3 = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<3x256xbf16>, tensor<4x64x256xbf16>, tensor<4x64x256xbf16>, tensor<6xi64>, tensor<4xi64>) -> (tensor<6x64xbf16>, tensor<6x64xbf16>, tensor<6x64xbf16>)
    %y = kiln.moe_down %gu#0, %wd, %w, %order, %slot, %offsets : (tensor<6x64xbf16>, tensor<4x256x64xbf16>, tensor<3x2xf32>, tensor<6xi64>, tensor<3x2xi64>, tensor<4xi64>) -> tensor<3x256xbf16>
    return %y : tensor<3x256xbf16>
  }
}
