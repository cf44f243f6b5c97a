// kiln-assign-precision (policy fp8) tags each matmul that reads a weight with
// its choice and leaves the router (a kept pattern), attention-style products
// of two activations and policy bf16 alone; kiln-grad copies the choice onto
// both backward GEMMs; kiln-lower-precision quantizes the weight in 128x128
// blocks and every other operand in 1x128 tiles along its stored K.
// RUN: kiln-opt %s --kiln-assign-precision=policy=fp8 | FileCheck %s --check-prefix=ASSIGN
// RUN: kiln-opt %s --kiln-assign-precision=policy=bf16 | FileCheck %s --check-prefix=BF16
// RUN: kiln-opt %s "--kiln-assign-precision=policy=fp8 keep=up_proj" | FileCheck %s --check-prefix=KEEP
// RUN: kiln-opt %s --kiln-assign-precision=policy=fp8 --kiln-grad | FileCheck %s --check-prefix=GRAD
// RUN: kiln-opt %s --kiln-assign-precision=policy=fp8 --kiln-grad --kiln-lower-precision --canonicalize --cse | FileCheck %s --check-prefix=LOWER
// RUN: not kiln-opt %s --kiln-assign-precision=policy=fp4 2>&1 | FileCheck %s --check-prefix=BAD

// ASSIGN: kiln.matmul %arg0, %arg1 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "layers.0.mlp.up_proj.weight"}
// ASSIGN: kiln.matmul %arg0, %arg2 {transpose_a
// ASSIGN: kiln.matmul %{{.*}}, %{{.*}} {transpose_a = false, transpose_b = true} : (tensor<2x3x256xbf16>, tensor<2x3x256xbf16>)
// BF16-NOT: kiln.precision
// A keep list replaces the defaults: up_proj stays bf16, the router does not.
// KEEP: kiln.matmul %arg0, %arg1 {transpose_a
// KEEP: kiln.matmul %arg0, %arg2 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "model.layers.0.mlp.gate.weight"}

// GRAD-COUNT-3: kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "layers.0.mlp.up_proj.weight"}
// GRAD-NOT: kiln.precision

// The forward GEMM: activations [6, 128] in 1x128 tiles, the weight [256, 128] in 128x128 blocks.
// LOWER: %[[X:.*]] = kiln.reshape %arg0 {shape = array<i64: 6, 128>}
// LOWER: %[[QX:.*]], %[[SX:.*]] = kiln.quantize %[[X]] {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<6x128xbf16>) -> (tensor<6x128xf8E4M3FN>, tensor<6x1xf32>)
// LOWER: %[[QW:.*]], %[[SW:.*]] = kiln.quantize %arg1 {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<256x128xbf16>) -> (tensor<256x128xf8E4M3FN>, tensor<2x1xf32>)
// LOWER: kiln.scaled_matmul %[[QX]], %[[SX]], %[[QW]], %[[SW]] {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, dtype = bf16, {{.*}}transpose_a = false, transpose_b = true}
// LOWER: kiln.matmul %arg0, %arg2
// The input gradient reads the same weight (the same blocks), dy in 1x128 tiles along its K (256).
// LOWER: kiln.quantize %{{.*}} {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<6x256xbf16>) -> (tensor<6x256xf8E4M3FN>, tensor<6x2xf32>)
// LOWER: kiln.scaled_matmul %{{.*}}, %{{.*}}, %[[QW]], %[[SW]] {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, dtype = bf16, {{.*}}transpose_a = false, transpose_b = false}
// The weight gradient: dy^T x, both quantized along the 6 tokens, their K.
// LOWER: kiln.quantize %{{.*}} {block = array<i64: 128, 1>, dtype = f8E4M3FN} : (tensor<6x256xbf16>) -> (tensor<6x256xf8E4M3FN>, tensor<1x256xf32>)
// LOWER: kiln.quantize %[[X]] {block = array<i64: 128, 1>, dtype = f8E4M3FN} : (tensor<6x128xbf16>) -> (tensor<6x128xf8E4M3FN>, tensor<1x128xf32>)
// LOWER: kiln.scaled_matmul {{.*}} {a_block = array<i64: 128, 1>, b_block = array<i64: 128, 1>, dtype = bf16, {{.*}}transpose_a = true, transpose_b = false}
// LOWER-NOT: kiln.matmul %{{.*}}, %arg1
// BAD: kiln-assign-precision: unknown policy 'fp4' (expected bf16, fp8, fp8-delayed or int4)
module attributes {kiln.state = [
    {name = "layers.0.mlp.up_proj.weight", type = tensor<256x128xbf16>, kind = "parameter"},
    {name = "model.layers.0.mlp.gate.weight", type = tensor<8x128xbf16>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x3x128xbf16> {kiln.name = "x"},
                  %w: tensor<256x128xbf16> {kiln.state = "layers.0.mlp.up_proj.weight"},
                  %r: tensor<8x128xbf16> {kiln.state = "model.layers.0.mlp.gate.weight"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<2x3x128xbf16> {kiln.name = "dx"},
          tensor<256x128xbf16> {kiln.name = "dw"}, tensor<2x3x8xbf16> {kiln.name = "router"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> tensor<2x3x256xbf16>
    %s = kiln.matmul %x, %r {transpose_a = false, transpose_b = true} : (tensor<2x3x128xbf16>, tensor<8x128xbf16>) -> tensor<2x3x8xbf16>
    %yy = kiln.matmul %y, %y {transpose_a = false, transpose_b = true} : (tensor<2x3x256xbf16>, tensor<2x3x256xbf16>) -> tensor<2x3x3xbf16>
    %y2 = kiln.cast %y {to = f32} : (tensor<2x3x256xbf16>) -> tensor<2x3x256xf32>
    %y3 = kiln.mul %y2, %y2 : (tensor<2x3x256xf32>, tensor<2x3x256xf32>) -> tensor<2x3x256xf32>
    %l = kiln.mean %y3 {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<2x3x256xf32>) -> tensor<f32>
    %g:2 = kiln.grad %l, %x, %w : (tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> (tensor<2x3x128xbf16>, tensor<256x128xbf16>)
    return %l, %g#0, %g#1, %s : tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>, tensor<2x3x8xbf16>
  }
}
