// kiln-select-kernels splits the K of a dense wgmma matmul over a cluster's
// blocks (kiln.split_k) where its output tiles would leave most of the 132
// multiprocessors idle while each walks a long K: at most 4 blocks a tile,
// each keeping at least 10 steps of 64 (H100 device times in
// WgmmaMatmul.cpp's wgmmaSplitK). Decoding's K = 1024 projections stay
// whole: there a cluster's fixed costs outweigh the K loop.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=wgmma=false --split-input-file | FileCheck %s --check-prefix=MMA

// MMA-NOT: kiln.split_k

// dW = x^T dy over 8192 tokens: 16 tiles of [512, 256], 128 steps: 4
// blocks (the most a split takes).
// CHECK-LABEL: func.func @weight_gradient
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 4 : i64, kiln.tile_n = 64 : i64}
func.func @weight_gradient(%x: tensor<8192x512xbf16>, %dy: tensor<8192x256xbf16>) -> tensor<512x256xbf16> {
  %m = kiln.matmul %x, %dy {transpose_a = true, transpose_b = false} : (tensor<8192x512xbf16>, tensor<8192x256xbf16>) -> tensor<512x256xbf16>
  return %m : tensor<512x256xbf16>
}

// -----

// 48 tiles fit 2 blocks each (132 / 48).
// CHECK-LABEL: func.func @two_blocks
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 2 : i64, kiln.tile_n = 64 : i64}
func.func @two_blocks(%x: tensor<4096x1024xbf16>, %dy: tensor<4096x384xbf16>) -> tensor<1024x384xbf16> {
  %m = kiln.matmul %x, %dy {transpose_a = true, transpose_b = false} : (tensor<4096x1024xbf16>, tensor<4096x384xbf16>) -> tensor<1024x384xbf16>
  return %m : tensor<1024x384xbf16>
}

// -----

// A decode step's dense down projection: 16 tiles, 44 steps: 4 blocks of
// 11 steps.
// CHECK-LABEL: func.func @dense_down
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 4 : i64, kiln.tile_n = 64 : i64}
func.func @dense_down(%h: tensor<64x2816xbf16>, %w: tensor<1024x2816xbf16>) -> tensor<64x1024xbf16> {
  %m = kiln.matmul %h, %w {transpose_a = false, transpose_b = true} : (tensor<64x2816xbf16>, tensor<1024x2816xbf16>) -> tensor<64x1024xbf16>
  return %m : tensor<64x1024xbf16>
}

// -----

// 44 tiles fit 3 blocks each; 32 steps in shares of 11.
// CHECK-LABEL: func.func @three_blocks
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 3 : i64, kiln.tile_n = 64 : i64}
func.func @three_blocks(%x: tensor<64x2048xbf16>, %w: tensor<2048x2816xbf16>) -> tensor<64x2816xbf16> {
  %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<64x2048xbf16>, tensor<2048x2816xbf16>) -> tensor<64x2816xbf16>
  return %m : tensor<64x2816xbf16>
}

// -----

// Not split: decoding's K = 1024 projections (16 steps), the LM head (500
// tiles), 4096 rows (they fill the GPU), and grouped matmuls (one block a
// tile).
// CHECK-LABEL: func.func @unsplit
// CHECK-NOT: kiln.split_k
// CHECK: return
func.func @unsplit(%x: tensor<64x1024xbf16>, %wq: tensor<384x1024xbf16>, %wo: tensor<1024x1024xbf16>,
                   %head: tensor<32000x1024xbf16>, %big: tensor<4096x8192xbf16>, %w: tensor<8192x1024xbf16>,
                   %r: tensor<256x1024xbf16>, %ew: tensor<32x1024x512xbf16>, %o: tensor<32xi64>)
    -> (tensor<64x384xbf16>, tensor<64x1024xbf16>, tensor<64x32000xbf16>, tensor<4096x1024xbf16>, tensor<256x512xbf16>) {
  %0 = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
  %1 = kiln.matmul %x, %wo {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<1024x1024xbf16>) -> tensor<64x1024xbf16>
  %2 = kiln.matmul %x, %head {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<32000x1024xbf16>) -> tensor<64x32000xbf16>
  %3 = kiln.matmul %big, %w {transpose_a = false, transpose_b = false} : (tensor<4096x8192xbf16>, tensor<8192x1024xbf16>) -> tensor<4096x1024xbf16>
  %4 = kiln.grouped_matmul %r, %ew, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<256x1024xbf16>, tensor<32x1024x512xbf16>, tensor<32xi64>) -> tensor<256x512xbf16>
  return %0, %1, %2, %3, %4 : tensor<64x384xbf16>, tensor<64x1024xbf16>, tensor<64x32000xbf16>, tensor<4096x1024xbf16>, tensor<256x512xbf16>
}
