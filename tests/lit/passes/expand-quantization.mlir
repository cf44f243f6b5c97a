// kiln-expand-unfused-composites and the quantization kernels. kiln.quantize
// in 1xB tiles along the last axis into float8 or i8 stays whole for the
// warp-per-tile kernel on every target; other blocks and i4 are expanded.
// For the fp8 wgmma kernel, a scaled_matmul of
// DeepSeek-V3's recipe (1x128 / 128x128 blocks, K a multiple of 16) stays
// whole for the kernel, a transposed operand first becoming K-major (operand
// and scale transposed, blocks swapped); one the kernel cannot take, or any on
// a target without wgmma, is expanded into f32 primitives.
// RUN: kiln-opt %s --kiln-expand-unfused-composites --split-input-file | FileCheck %s --check-prefixes=CHECK,WGMMA
// RUN: kiln-opt %s --kiln-expand-unfused-composites=wgmma=false --split-input-file | FileCheck %s --check-prefixes=CHECK,NONE
// RUN: kiln-opt %s --kiln-expand-unfused-composites --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s --check-prefix=KERNEL

// The forward GEMM's layout: x [M, K] and w [N, K].
// CHECK-LABEL: func.func @forward
// WGMMA-NOT: kiln.transpose
// WGMMA: kiln.scaled_matmul %arg0, %arg1, %arg2, %arg3 {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, dtype = bf16, transpose_a = false, transpose_b = true}
// NONE-NOT: kiln.scaled_matmul
// NONE: kiln.matmul
// KERNEL-LABEL: func.func @forward
// KERNEL: kiln.dispatch kernel "wgmma_scaled_matmul"
func.func @forward(%a: tensor<208x400xf8E4M3FN>, %sa: tensor<208x4xf32>, %b: tensor<320x400xf8E4M3FN>, %sb: tensor<3x4xf32>) -> tensor<208x320xbf16> {
  %y = kiln.scaled_matmul %a, %sa, %b, %sb {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = bf16} : (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<208x320xbf16>
  return %y : tensor<208x320xbf16>
}

// -----

// The input gradient's layout: dy [M, N] times w stored [N, K] (b K-major
// only once transposed), and the weight gradient's: dy^T x with both stored
// [tokens, ...] in 128x1 tiles, which become [M, K] and [N, K] in 1x128 tiles
// (b's scales per column).
// CHECK-LABEL: func.func @transposed
// WGMMA: %[[WT:.*]] = kiln.transpose %arg2 {perm = array<i64: 1, 0>} : (tensor<320x400xf8E4M3FN>) -> tensor<400x320xf8E4M3FN>
// WGMMA: %[[ST:.*]] = kiln.transpose %arg3 {perm = array<i64: 1, 0>} : (tensor<3x4xf32>) -> tensor<4x3xf32>
// WGMMA: kiln.scaled_matmul %arg0, %arg1, %[[WT]], %[[ST]] {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, dtype = bf16, transpose_a = false, transpose_b = true}
// WGMMA: %[[AT:.*]] = kiln.transpose %arg4 {perm = array<i64: 1, 0>} : (tensor<208x320xf8E4M3FN>) -> tensor<320x208xf8E4M3FN>
// WGMMA: %[[SAT:.*]] = kiln.transpose %arg5 {perm = array<i64: 1, 0>} : (tensor<2x320xf32>) -> tensor<320x2xf32>
// WGMMA: %[[BT:.*]] = kiln.transpose %arg6 {perm = array<i64: 1, 0>} : (tensor<208x400xf8E4M3FN>) -> tensor<400x208xf8E4M3FN>
// WGMMA: %[[SBT:.*]] = kiln.transpose %arg7 {perm = array<i64: 1, 0>} : (tensor<2x400xf32>) -> tensor<400x2xf32>
// WGMMA: kiln.scaled_matmul %[[AT]], %[[SAT]], %[[BT]], %[[SBT]] {a_block = array<i64: 1, 128>, b_block = array<i64: 1, 128>, dtype = f32, transpose_a = false, transpose_b = true}
// NONE-NOT: kiln.scaled_matmul
// KERNEL-LABEL: func.func @transposed
// KERNEL-COUNT-2: kiln.dispatch kernel "wgmma_scaled_matmul"
func.func @transposed(%dy: tensor<208x320xf8E4M3FN>, %sdy: tensor<208x3xf32>, %w: tensor<320x400xf8E4M3FN>, %sw: tensor<3x4xf32>,
                      %dt: tensor<208x320xf8E4M3FN>, %sdt: tensor<2x320xf32>, %xt: tensor<208x400xf8E4M3FN>, %sxt: tensor<2x400xf32>) -> (tensor<208x400xbf16>, tensor<320x400xf32>) {
  %dx = kiln.scaled_matmul %dy, %sdy, %w, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = false, dtype = bf16} : (tensor<208x320xf8E4M3FN>, tensor<208x3xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<208x400xbf16>
  %z = kiln.scaled_matmul %dt, %sdt, %xt, %sxt {a_block = array<i64: 128, 1>, b_block = array<i64: 128, 1>, transpose_a = true, transpose_b = false, dtype = f32} : (tensor<208x320xf8E4M3FN>, tensor<2x320xf32>, tensor<208x400xf8E4M3FN>, tensor<2x400xf32>) -> tensor<320x400xf32>
  return %dx, %z : tensor<208x400xbf16>, tensor<320x400xf32>
}

// -----

// Outside the recipe: K = 300 is no multiple of 16 (rows of 16 bytes for the
// copies), and 1x64 tiles promote every 64 along K where the kernel's stages
// are 128 long: both expanded, on every target.
// CHECK-LABEL: func.func @refused
// CHECK-NOT: kiln.scaled_matmul
// CHECK-NOT: kiln.transpose %arg2
// CHECK: kiln.matmul
// KERNEL-LABEL: func.func @refused
// KERNEL-NOT: wgmma_scaled_matmul
// KERNEL: return
func.func @refused(%a: tensor<64x300xf8E4M3FN>, %sa: tensor<64x3xf32>, %b: tensor<256x300xf8E4M3FN>, %sb: tensor<2x3xf32>,
                   %c: tensor<64x256xf8E4M3FN>, %sc: tensor<64x4xf32>, %d: tensor<128x256xf8E4M3FN>, %sd: tensor<128x4xf32>) -> (tensor<64x256xf32>, tensor<64x128xf32>) {
  %y = kiln.scaled_matmul %a, %sa, %b, %sb {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<64x300xf8E4M3FN>, tensor<64x3xf32>, tensor<256x300xf8E4M3FN>, tensor<2x3xf32>) -> tensor<64x256xf32>
  %z = kiln.scaled_matmul %c, %sc, %d, %sd {a_block = array<i64: 1, 64>, b_block = array<i64: 1, 64>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<64x256xf8E4M3FN>, tensor<64x4xf32>, tensor<128x256xf8E4M3FN>, tensor<128x4xf32>) -> tensor<64x128xf32>
  return %y, %z : tensor<64x256xf32>, tensor<64x128xf32>
}

// -----

// CHECK-LABEL: func.func @quantize
// CHECK: kiln.quantize %arg0 {block = array<i64: 1, 128>, dtype = f8E4M3FN}
// CHECK: kiln.quantize %arg1 {block = array<i64: 1, 1, 64>, dtype = i8}
// CHECK-NOT: kiln.quantize
// CHECK: return
// KERNEL-LABEL: func.func @quantize
// KERNEL-COUNT-2: kiln.dispatch kernel "quantize"
// KERNEL-NOT: kiln.dispatch kernel "quantize"
func.func @quantize(%x: tensor<208x400xbf16>, %y: tensor<2x3x100xf32>, %w: tensor<256x300xbf16>, %v: tensor<32x256xf32>)
    -> (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>, tensor<2x3x100xi8>, tensor<2x3x2xf32>, tensor<256x300xf8E4M3FN>, tensor<2x3xf32>, tensor<32x256xi4>, tensor<32x2xf32>) {
  %q0, %s0 = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<208x400xbf16>) -> (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>)
  %q1, %s1 = kiln.quantize %y {block = array<i64: 1, 1, 64>, dtype = i8} : (tensor<2x3x100xf32>) -> (tensor<2x3x100xi8>, tensor<2x3x2xf32>)
  %q2, %s2 = kiln.quantize %w {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<256x300xbf16>) -> (tensor<256x300xf8E4M3FN>, tensor<2x3xf32>)
  %q3, %s3 = kiln.quantize %v {block = array<i64: 1, 128>, dtype = i4} : (tensor<32x256xf32>) -> (tensor<32x256xi4>, tensor<32x2xf32>)
  return %q0, %s0, %q1, %s1, %q2, %s2, %q3, %s3 : tensor<208x400xf8E4M3FN>, tensor<208x4xf32>, tensor<2x3x100xi8>, tensor<2x3x2xf32>, tensor<256x300xf8E4M3FN>, tensor<2x3xf32>, tensor<32x256xi4>, tensor<32x2xf32>
}

// -----

// An int4 weight read only as the K-major weight of a tensor-core GEMM (i4 in
// groups of a multiple of 32 along K, K a multiple of 32) stays whole on every
// target and fuses into the GEMM's region, which mma_int4_matmul lowers (it
// dequantizes each B tile in shared memory): a matmul with transpose_b and a
// "rows" grouped_matmul with transpose_w. A dequantize the kernel cannot take
// (a [K, N] weight, groups of 48, two readers) is expanded.
// CHECK-LABEL: func.func @int4_weights
// CHECK-COUNT-2: kiln.dequantize
// CHECK-NOT: kiln.dequantize
// CHECK: return
// KERNEL-LABEL: func.func @int4_weights
// KERNEL: kiln.dispatch kernel "mma_int4_matmul"
// KERNEL-NEXT: kiln.dequantize %arg2, %arg3 {block = array<i64: 1, 128>, dtype = bf16}
// KERNEL-NEXT: kiln.matmul %arg0
// KERNEL: kiln.dispatch kernel "mma_int4_matmul"
// KERNEL-NEXT: kiln.dequantize %arg5, %arg6 {block = array<i64: 1, 1, 64>, dtype = bf16}
// KERNEL-NEXT: kiln.grouped_matmul %arg4
// KERNEL-NOT: mma_int4_matmul
// KERNEL: return
func.func @int4_weights(%x: tensor<4x256xbf16>, %unused: tensor<1xf32>, %q: tensor<96x256xi4>, %s: tensor<96x2xf32>,
                        %gx: tensor<10x256xbf16>, %gq: tensor<3x64x256xi4>, %gs: tensor<3x64x4xf32>, %offsets: tensor<3xi64>,
                        %kn: tensor<256x96xi4>, %skn: tensor<2x96xf32>, %q48: tensor<96x240xi4>, %s48: tensor<96x5xf32>, %x240: tensor<4x240xbf16>,
                        %q2: tensor<96x256xi4>, %s2: tensor<96x2xf32>)
    -> (tensor<4x96xbf16>, tensor<10x64xbf16>, tensor<4x96xbf16>, tensor<4x96xbf16>, tensor<4x96xbf16>) {
  %w = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<96x256xi4>, tensor<96x2xf32>) -> tensor<96x256xbf16>
  %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<4x256xbf16>, tensor<96x256xbf16>) -> tensor<4x96xbf16>
  %gw = kiln.dequantize %gq, %gs {block = array<i64: 1, 1, 64>, dtype = bf16} : (tensor<3x64x256xi4>, tensor<3x64x4xf32>) -> tensor<3x64x256xbf16>
  %g = kiln.grouped_matmul %gx, %gw, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<10x256xbf16>, tensor<3x64x256xbf16>, tensor<3xi64>) -> tensor<10x64xbf16>
  %wkn = kiln.dequantize %kn, %skn {block = array<i64: 128, 1>, dtype = bf16} : (tensor<256x96xi4>, tensor<2x96xf32>) -> tensor<256x96xbf16>
  %ykn = kiln.matmul %x, %wkn {transpose_a = false, transpose_b = false} : (tensor<4x256xbf16>, tensor<256x96xbf16>) -> tensor<4x96xbf16>
  %w48 = kiln.dequantize %q48, %s48 {block = array<i64: 1, 48>, dtype = bf16} : (tensor<96x240xi4>, tensor<96x5xf32>) -> tensor<96x240xbf16>
  %y48 = kiln.matmul %x240, %w48 {transpose_a = false, transpose_b = true} : (tensor<4x240xbf16>, tensor<96x240xbf16>) -> tensor<4x96xbf16>
  %w2 = kiln.dequantize %q2, %s2 {block = array<i64: 1, 128>, dtype = bf16} : (tensor<96x256xi4>, tensor<96x2xf32>) -> tensor<96x256xbf16>
  %z = kiln.mul %w2, %w2 : (tensor<96x256xbf16>, tensor<96x256xbf16>) -> tensor<96x256xbf16>
  %zy = kiln.matmul %x, %z {transpose_a = false, transpose_b = true} : (tensor<4x256xbf16>, tensor<96x256xbf16>) -> tensor<4x96xbf16>
  return %y, %g, %ykn, %y48, %zy : tensor<4x96xbf16>, tensor<10x64xbf16>, tensor<4x96xbf16>, tensor<4x96xbf16>, tensor<4x96xbf16>
}
