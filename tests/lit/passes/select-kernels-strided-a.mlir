// kiln-select-kernels gives a wgmma_matmul the remaps of the region that
// wrote its A when they are a strided view its tensor map reads in place (K
// contiguous, rows and batch entries each one stride of 16-byte multiples,
// starting at the base's first element): the remaps move into the GEMM's
// region and their own launch is gone. Other chains keep their region.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=wgmma=false --split-input-file | FileCheck %s --check-prefix=MMA
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=fuse-gemms=false --split-input-file | FileCheck %s --check-prefix=NOFUSE

// The absorbed MLA's q: 16 heads of 96, the first 64 of each, heads first
// (through a reshape outside every region).
// CHECK-LABEL: func.func @absorbed_q
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.transpose
// CHECK-NEXT: kiln.slice
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.transpose
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.matmul
// CHECK-NOT: kiln.dispatch
// MMA-LABEL: func.func @absorbed_q
// MMA: kiln.dispatch kernel "loop_nest"
// MMA: kiln.dispatch kernel "mma_matmul"
// NOFUSE-LABEL: func.func @absorbed_q
// NOFUSE: kiln.dispatch kernel "loop_nest"
// NOFUSE: kiln.dispatch kernel "wgmma_matmul"
// NOFUSE-NEXT: kiln.matmul
func.func @absorbed_q(%q: tensor<64x1x1536xbf16>, %w: tensor<16x64x256xbf16>) -> tensor<16x64x256xbf16> {
  %0 = kiln.reshape %q {shape = array<i64: 64, 1, 16, 96>} : (tensor<64x1x1536xbf16>) -> tensor<64x1x16x96xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 1, 3>} : (tensor<64x1x16x96xbf16>) -> tensor<64x16x1x96xbf16>
  %2 = kiln.slice %1 {limit = array<i64: 64, 16, 1, 64>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>} : (tensor<64x16x1x96xbf16>) -> tensor<64x16x1x64xbf16>
  %3 = kiln.reshape %2 {shape = array<i64: 64, 16, 64>} : (tensor<64x16x1x64xbf16>) -> tensor<64x16x64xbf16>
  %4 = kiln.transpose %3 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x64xbf16>) -> tensor<16x64x64xbf16>
  %5 = kiln.reshape %4 {shape = array<i64: 16, 64, 64>} : (tensor<16x64x64xbf16>) -> tensor<16x64x64xbf16>
  %6 = kiln.matmul %5, %w {transpose_a = false, transpose_b = false} : (tensor<16x64x64xbf16>, tensor<16x64x256xbf16>) -> tensor<16x64x256xbf16>
  return %6 : tensor<16x64x256xbf16>
}

// -----

// Near misses: K not contiguous (a transpose of the last two dims), a view
// starting past the first element (the tensor map starts at the buffer),
// and a transposed copy that another op also reads.
// CHECK-LABEL: func.func @near_misses
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.transpose
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK-NEXT: kiln.matmul
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.slice
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK-NEXT: kiln.matmul
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.transpose
// CHECK: kiln.dispatch kernel "wgmma_matmul"
// CHECK-NEXT: kiln.matmul
func.func @near_misses(%a: tensor<128x64xbf16>, %b: tensor<80x128xbf16>, %c: tensor<64x16x64xbf16>, %w: tensor<128x64xbf16>, %v: tensor<16x64x32xbf16>)
    -> (tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<16x64x32xbf16>, tensor<16x64x64xbf16>) {
  %0 = kiln.transpose %a {perm = array<i64: 1, 0>} : (tensor<128x64xbf16>) -> tensor<64x128xbf16>
  %1 = kiln.matmul %0, %w {transpose_a = false, transpose_b = false} : (tensor<64x128xbf16>, tensor<128x64xbf16>) -> tensor<64x64xbf16>
  %2 = kiln.slice %b {limit = array<i64: 80, 128>, start = array<i64: 16, 0>, stride = array<i64: 1, 1>} : (tensor<80x128xbf16>) -> tensor<64x128xbf16>
  %3 = kiln.matmul %2, %w {transpose_a = false, transpose_b = false} : (tensor<64x128xbf16>, tensor<128x64xbf16>) -> tensor<64x64xbf16>
  %4 = kiln.transpose %c {perm = array<i64: 1, 0, 2>} : (tensor<64x16x64xbf16>) -> tensor<16x64x64xbf16>
  %5 = kiln.matmul %4, %v {transpose_a = false, transpose_b = false} : (tensor<16x64x64xbf16>, tensor<16x64x32xbf16>) -> tensor<16x64x32xbf16>
  return %1, %3, %5, %4 : tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<16x64x32xbf16>, tensor<16x64x64xbf16>
}
