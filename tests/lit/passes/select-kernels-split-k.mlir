// kiln-select-kernels splits the K of a dense wgmma matmul over a cluster's
// blocks (kiln.split_k) where its output tiles would leave most of the 132
// multiprocessors idle while each walks a long K: a weight gradient, whose
// K is the tokens. The split is the most blocks (at most 8) that fit beside
// the tiles while each keeps 32 steps of 64, trimmed so that every block has
// a share. Decoding's projections (K <= 2816) stay whole: there a cluster's
// fixed costs outweigh the K loop.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=wgmma=false --split-input-file | FileCheck %s --check-prefix=MMA

// MMA-NOT: kiln.split_k

// dW = x^T dy over 8192 tokens: 16 tiles of [512, 256], 128 steps: 4
// blocks of 32 steps each.
// CHECK-LABEL: func.func @weight_gradient
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 4 : i64}
func.func @weight_gradient(%x: tensor<8192x512xbf16>, %dy: tensor<8192x256xbf16>) -> tensor<512x256xbf16> {
  %m = kiln.matmul %x, %dy {transpose_a = true, transpose_b = false} : (tensor<8192x512xbf16>, tensor<8192x256xbf16>) -> tensor<512x256xbf16>
  return %m : tensor<512x256xbf16>
}

// -----

// 48 tiles fit 2 blocks each (132 / 48), 64 steps allow 2.
// CHECK-LABEL: func.func @two_blocks
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 2 : i64}
func.func @two_blocks(%x: tensor<4096x1024xbf16>, %dy: tensor<4096x384xbf16>) -> tensor<1024x384xbf16> {
  %m = kiln.matmul %x, %dy {transpose_a = true, transpose_b = false} : (tensor<4096x1024xbf16>, tensor<4096x384xbf16>) -> tensor<1024x384xbf16>
  return %m : tensor<1024x384xbf16>
}

// -----

// Four tiles, 256 steps: at most 8 blocks, shares of 32.
// CHECK-LABEL: func.func @eight_blocks
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 8 : i64}
func.func @eight_blocks(%x: tensor<64x16384xbf16>, %w: tensor<256x16384xbf16>) -> tensor<64x256xbf16> {
  %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x16384xbf16>, tensor<256x16384xbf16>) -> tensor<64x256xbf16>
  return %m : tensor<64x256xbf16>
}

// -----

// 18 tiles fit 7 blocks, 224 steps allow 7: shares of 32.
// CHECK-LABEL: func.func @seven_blocks
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 7 : i64}
func.func @seven_blocks(%x: tensor<64x14336xbf16>, %w: tensor<14336x1152xbf16>) -> tensor<64x1152xbf16> {
  %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<64x14336xbf16>, tensor<14336x1152xbf16>) -> tensor<64x1152xbf16>
  return %m : tensor<64x1152xbf16>
}

// -----

// Not split: decoding's projections (16 steps: the query's down projection,
// 44: the dense layer's down projection), the LM head (500 tiles), 4096 rows
// (they fill the GPU), and grouped matmuls (one block a tile).
// CHECK-LABEL: func.func @unsplit
// CHECK-NOT: kiln.split_k
// CHECK: return
func.func @unsplit(%x: tensor<64x1024xbf16>, %wq: tensor<384x1024xbf16>, %h: tensor<64x2816xbf16>, %wd: tensor<1024x2816xbf16>,
                   %head: tensor<32000x1024xbf16>, %big: tensor<4096x8192xbf16>, %w: tensor<8192x1024xbf16>,
                   %r: tensor<256x1024xbf16>, %ew: tensor<32x1024x512xbf16>, %o: tensor<32xi64>)
    -> (tensor<64x384xbf16>, tensor<64x1024xbf16>, tensor<64x32000xbf16>, tensor<4096x1024xbf16>, tensor<256x512xbf16>) {
  %0 = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
  %1 = kiln.matmul %h, %wd {transpose_a = false, transpose_b = true} : (tensor<64x2816xbf16>, tensor<1024x2816xbf16>) -> tensor<64x1024xbf16>
  %2 = kiln.matmul %x, %head {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<32000x1024xbf16>) -> tensor<64x32000xbf16>
  %3 = kiln.matmul %big, %w {transpose_a = false, transpose_b = false} : (tensor<4096x8192xbf16>, tensor<8192x1024xbf16>) -> tensor<4096x1024xbf16>
  %4 = kiln.grouped_matmul %r, %ew, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<256x1024xbf16>, tensor<32x1024x512xbf16>, tensor<32xi64>) -> tensor<256x512xbf16>
  return %0, %1, %2, %3, %4 : tensor<64x384xbf16>, tensor<64x1024xbf16>, tensor<64x32000xbf16>, tensor<4096x1024xbf16>, tensor<256x512xbf16>
}
