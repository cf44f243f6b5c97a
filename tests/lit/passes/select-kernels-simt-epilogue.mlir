// kiln-select-kernels moves an f32 simt_matmul into the region of a sigmoid
// that alone reads it (a DeepSeek router's scores): simt_matmul applies the
// sigmoid as it stores, and the logits' launch is gone. Other consumers keep
// their region.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=fuse-gemms=false --split-input-file | FileCheck %s --check-prefix=NOFUSE

// CHECK-LABEL: func.func @router
// CHECK: kiln.dispatch kernel "simt_matmul" : tensor<64x32xf32> {
// CHECK-NEXT: kiln.cast
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.sigmoid
// CHECK-NEXT: kiln.yield
// CHECK-NOT: kiln.dispatch
// CHECK: return
// NOFUSE-LABEL: func.func @router
// NOFUSE-COUNT-2: kiln.dispatch
func.func @router(%x: tensor<64x1024xbf16>, %w: tensor<32x1024xf32>) -> tensor<64x32xf32> {
  %0 = kiln.cast %x {to = f32} : (tensor<64x1024xbf16>) -> tensor<64x1024xf32>
  %1 = kiln.matmul %0, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<32x1024xf32>) -> tensor<64x32xf32>
  %2 = kiln.sigmoid %1 : (tensor<64x32xf32>) -> tensor<64x32xf32>
  return %2 : tensor<64x32xf32>
}

// -----

// Near misses: logits read twice (a sigmoid and the caller), and a sigmoid
// with more work in its region.
// CHECK-LABEL: func.func @near_misses
// CHECK: kiln.dispatch kernel "simt_matmul" : tensor<64x32xf32> {
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.yield
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.sigmoid
// CHECK: kiln.dispatch kernel "simt_matmul" : tensor<64x32xf32> {
// CHECK-NEXT: kiln.matmul
// CHECK-NEXT: kiln.yield
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.sigmoid
// CHECK-NEXT: kiln.mul
func.func @near_misses(%x: tensor<64x1024xf32>, %w: tensor<32x1024xf32>) -> (tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>) {
  %0 = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<32x1024xf32>) -> tensor<64x32xf32>
  %1 = kiln.sigmoid %0 : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %2 = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<32x1024xf32>) -> tensor<64x32xf32>
  %3 = kiln.sigmoid %2 : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %4 = kiln.mul %3, %3 : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
  return %0, %1, %4 : tensor<64x32xf32>, tensor<64x32xf32>, tensor<64x32xf32>
}
