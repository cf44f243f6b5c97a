// kiln-select-kernels moves a batched wgmma_matmul into the region of a
// transpose that alone reads it and swaps its batch with its rows ([B, M, N]
// to [M, B, N]): wgmma_matmul stores its tiles transposed and the copy's
// launch is gone. Other transposes keep their own region.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=fuse-gemms=false --split-input-file | FileCheck %s --check-prefix=NOFUSE

// The absorbed MLA's attention output times W_UV, heads back beside each
// other for o_proj: one region, A read through its view, the output stored
// transposed.
// CHECK-LABEL: func.func @heads_back
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 64 : i64} : tensor<64x16x64xbf16> {
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.transpose
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.transpose %{{.*}} {perm = array<i64: 1, 0, 2>}
// CHECK-NEXT: kiln.yield
// CHECK-NOT: kiln.dispatch
// CHECK: return
// NOFUSE-LABEL: func.func @heads_back
// NOFUSE-COUNT-3: kiln.dispatch
func.func @heads_back(%o: tensor<64x16x1x256xbf16>, %wuv: tensor<16x64x256xbf16>) -> tensor<64x1024xbf16> {
  %0 = kiln.reshape %o {shape = array<i64: 64, 16, 256>} : (tensor<64x16x1x256xbf16>) -> tensor<64x16x256xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x256xbf16>) -> tensor<16x64x256xbf16>
  %2 = kiln.matmul %1, %wuv {transpose_a = false, transpose_b = true} : (tensor<16x64x256xbf16>, tensor<16x64x256xbf16>) -> tensor<16x64x64xbf16>
  %3 = kiln.transpose %2 {perm = array<i64: 1, 0, 2>} : (tensor<16x64x64xbf16>) -> tensor<64x16x64xbf16>
  %4 = kiln.reshape %3 {shape = array<i64: 64, 1024>} : (tensor<64x16x64xbf16>) -> tensor<64x1024xbf16>
  return %4 : tensor<64x1024xbf16>
}

// -----

// Near misses: a product read twice (by a transpose of the last two dims
// and by the batch-swapping one), and a batch folded into rows (a shared B).
// CHECK-LABEL: func.func @near_misses
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.transpose %{{.*}} {perm = array<i64: 0, 2, 1>}
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.transpose %{{.*}} {perm = array<i64: 1, 0, 2>}
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.transpose %{{.*}} {perm = array<i64: 1, 0, 2>}
func.func @near_misses(%a: tensor<4x64x128xbf16>, %b: tensor<4x128x64xbf16>, %w: tensor<128x64xbf16>)
    -> (tensor<4x64x64xbf16>, tensor<64x4x64xbf16>, tensor<64x4x64xbf16>) {
  %0 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<4x64x128xbf16>, tensor<4x128x64xbf16>) -> tensor<4x64x64xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 1>} : (tensor<4x64x64xbf16>) -> tensor<4x64x64xbf16>
  %2 = kiln.transpose %0 {perm = array<i64: 1, 0, 2>} : (tensor<4x64x64xbf16>) -> tensor<64x4x64xbf16>
  %3 = kiln.matmul %a, %w {transpose_a = false, transpose_b = false} : (tensor<4x64x128xbf16>, tensor<128x64xbf16>) -> tensor<4x64x64xbf16>
  %4 = kiln.transpose %3 {perm = array<i64: 1, 0, 2>} : (tensor<4x64x64xbf16>) -> tensor<64x4x64xbf16>
  return %1, %2, %4 : tensor<4x64x64xbf16>, tensor<64x4x64xbf16>, tensor<64x4x64xbf16>
}
