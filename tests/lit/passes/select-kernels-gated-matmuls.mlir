// kiln-select-kernels moves a SwiGLU MLP's two projection GEMMs into the
// region of their gated product (passes/GatedMatmuls.h) and gives it the
// wgmma kernel that multiplies one A by both weights; near misses keep
// separate regions. Without wgmma nothing changes.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=wgmma=false --split-input-file | FileCheck %s --check-prefix=OFF
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=fuse-gemms=false --split-input-file | FileCheck %s --check-prefix=NOFUSE

// A decode step's shared expert: one region, one launch, in 32-wide tiles
// (64-wide ones would be 8 blocks: wgmmaTileN).
// CHECK-LABEL: func.func @shared_expert
// CHECK: kiln.dispatch kernel "wgmma_gated_matmul" {kiln.tile_n = 32 : i64}
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.silu
// CHECK-NEXT: kiln.mul
// CHECK-NEXT: kiln.yield
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// OFF-LABEL: func.func @shared_expert
// OFF-COUNT-2: kiln.dispatch kernel "mma_matmul"
// OFF: kiln.dispatch kernel "loop_nest"
// OFF-NEXT: kiln.silu
// NOFUSE-LABEL: func.func @shared_expert
// NOFUSE-COUNT-2: kiln.dispatch kernel "wgmma_matmul"
// NOFUSE: kiln.dispatch kernel "loop_nest"
// NOFUSE-NEXT: kiln.silu
func.func @shared_expert(%x: tensor<64x1x1024xbf16>, %wu: tensor<512x1024xbf16>, %wg: tensor<512x1024xbf16>, %wd: tensor<1024x512xbf16>) -> tensor<64x1x1024xbf16> {
  %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
  %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
  %s = kiln.silu %g : (tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
  %a = kiln.mul %s, %u : (tensor<64x1x512xbf16>, tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
  %d = kiln.matmul %a, %wd {transpose_a = false, transpose_b = true} : (tensor<64x1x512xbf16>, tensor<1024x512xbf16>) -> tensor<64x1x1024xbf16>
  return %d : tensor<64x1x1024xbf16>
}

// -----

// Training keeps the gate projection for the backward pass: it is read
// outside the chain, so both GEMMs stay their own regions.
// CHECK-LABEL: func.func @gate_read_twice
// CHECK-NOT: wgmma_gated_matmul
// CHECK-COUNT-2: kiln.dispatch kernel "wgmma_matmul"
// CHECK-NOT: wgmma_gated_matmul
func.func @gate_read_twice(%x: tensor<64x1024xbf16>, %wu: tensor<512x1024xbf16>, %wg: tensor<512x1024xbf16>) -> (tensor<64x512xbf16>, tensor<64x512xbf16>) {
  %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %s = kiln.silu %g : (tensor<64x512xbf16>) -> tensor<64x512xbf16>
  %a = kiln.mul %s, %u : (tensor<64x512xbf16>, tensor<64x512xbf16>) -> tensor<64x512xbf16>
  return %a, %g : tensor<64x512xbf16>, tensor<64x512xbf16>
}

// -----

// Projections of two different inputs, and an f32 MLP (no tensor-core
// kernel): no gated region.
// CHECK-LABEL: func.func @near_misses
// CHECK-NOT: wgmma_gated_matmul
func.func @near_misses(%x: tensor<64x1024xbf16>, %y: tensor<64x1024xbf16>, %w: tensor<512x1024xbf16>,
                       %xf: tensor<8x64xf32>, %wf: tensor<64x32xf32>) -> (tensor<64x512xbf16>, tensor<8x32xf32>) {
  %u = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %g = kiln.matmul %y, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %s = kiln.silu %g : (tensor<64x512xbf16>) -> tensor<64x512xbf16>
  %a = kiln.mul %s, %u : (tensor<64x512xbf16>, tensor<64x512xbf16>) -> tensor<64x512xbf16>
  %uf = kiln.matmul %xf, %wf {transpose_a = false, transpose_b = false} : (tensor<8x64xf32>, tensor<64x32xf32>) -> tensor<8x32xf32>
  %gf = kiln.matmul %xf, %wf {transpose_a = false, transpose_b = false} : (tensor<8x64xf32>, tensor<64x32xf32>) -> tensor<8x32xf32>
  %sf = kiln.silu %gf : (tensor<8x32xf32>) -> tensor<8x32xf32>
  %af = kiln.mul %sf, %uf : (tensor<8x32xf32>, tensor<8x32xf32>) -> tensor<8x32xf32>
  return %a, %af : tensor<64x512xbf16>, tensor<8x32xf32>
}
