// kiln-form-fusions: one kiln.dispatch per kernel, with the producers that
// kernel recomputes moved inside it (passes/FormFusions.cpp).
// RUN: kiln-opt %s --kiln-form-fusions --split-input-file | FileCheck %s
// RUN: kiln-opt %s --kiln-form-fusions --split-input-file | kiln-opt --split-input-file > /dev/null

// A single-use elementwise chain of one size is one kernel rooted at its
// last op; reshapes and constants stay outside every region.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT: %[[C:.*]] = kiln.constant
// CHECK-NEXT: %[[D:.*]] = kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   %[[E:.*]] = kiln.exp %arg0
// CHECK-NEXT:   %[[M:.*]] = kiln.mul %[[E]], %[[C]]
// CHECK-NEXT:   %[[N:.*]] = kiln.neg %[[M]]
// CHECK-NEXT:   kiln.yield %[[N]] : tensor<4x8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[D]]
// CHECK-NEXT: return %[[R]]
func.func @chain(%x: tensor<4x8xf32>) -> tensor<32xf32> {
  %c = kiln.constant {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %e = kiln.exp %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %m = kiln.mul %e, %c : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %n = kiln.neg %m : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %r = kiln.reshape %n {shape = array<i64: 32>} : (tensor<4x8xf32>) -> tensor<32xf32>
  return %r : tensor<32xf32>
}

// -----

// A producer with two uses is stored once and read by both kernels.
// CHECK-LABEL: func.func @multi_use
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.exp
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[A:.*]] = kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.add %[[E]], %[[E]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @multi_use(%x: tensor<64xf32>) -> tensor<64xf32> {
  %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %a = kiln.add %e, %e : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  return %a : tensor<64xf32>
}

// -----

// A producer smaller than its consumer (a broadcast) is not recomputed per
// element: it keeps its own kernel.
// CHECK-LABEL: func.func @broadcast_producer
// CHECK: kiln.dispatch : tensor<8xf32> {
// CHECK-NEXT:   kiln.exp %arg1
// CHECK-NEXT:   kiln.yield
// CHECK: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   kiln.add
// CHECK-NEXT:   kiln.yield
func.func @broadcast_producer(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %e = kiln.exp %b : (tensor<8xf32>) -> tensor<8xf32>
  %a = kiln.add %x, %e : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %a : tensor<4x8xf32>
}

// -----

// Casts are elementwise: a bf16 -> f32 cast fuses into the reduction that
// reads it (the reduction is the root: a reduction kernel has no row phase
// after it).
// CHECK-LABEL: func.func @cast_into_reduction
// CHECK-NEXT: %[[S:.*]] = kiln.dispatch : tensor<4xf32> {
// CHECK-NEXT:   %[[C:.*]] = kiln.cast %arg0 {to = f32}
// CHECK-NEXT:   kiln.sum %[[C]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @cast_into_reduction(%x: tensor<4x64xbf16>) -> tensor<4xf32> {
  %c = kiln.cast %x {to = f32} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
  %s = kiln.sum %c {axes = array<i64: 1>, keepdims = false} : (tensor<4x64xf32>) -> tensor<4xf32>
  return %s : tensor<4xf32>
}

// -----

// A row reduction whose per-row values broadcast back into an elementwise
// region over its input becomes one row kernel (softmax's max and sum: the
// x - max region feeds exp, then the sum, then the division).
// CHECK-LABEL: func.func @softmax_rows
// CHECK-NEXT: %[[MAXD:.*]] = kiln.dispatch : tensor<4x64xf32> {
// CHECK-NEXT:   %[[MAX:.*]] = kiln.max %arg0
// CHECK-NEXT:   %[[SUB:.*]] = kiln.sub %arg0, %[[MAX]]
// CHECK-NEXT:   %[[EXP:.*]] = kiln.exp %[[SUB]]
// CHECK-NEXT:   kiln.yield %[[EXP]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[DIV:.*]] = kiln.dispatch : tensor<4x64xf32> {
// CHECK-NEXT:   %[[SUM:.*]] = kiln.sum %[[MAXD]]
// CHECK-NEXT:   kiln.div %[[MAXD]], %[[SUM]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @softmax_rows(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %m = kiln.max %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %s = kiln.sub %x, %m : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  %e = kiln.exp %s : (tensor<4x64xf32>) -> tensor<4x64xf32>
  %z = kiln.sum %e {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %d = kiln.div %e, %z : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  return %d : tensor<4x64xf32>
}

// -----

// Rows shorter than a warp (16 < 32) are not reduced in the consumer's
// kernel: the reduction keeps its own.
// CHECK-LABEL: func.func @short_rows
// CHECK-NEXT: %[[M:.*]] = kiln.dispatch : tensor<4x1xf32> {
// CHECK-NEXT:   kiln.max %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<4x16xf32> {
// CHECK-NEXT:   kiln.sub %arg0, %[[M]]
func.func @short_rows(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %m = kiln.max %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x16xf32>) -> tensor<4x1xf32>
  %s = kiln.sub %x, %m : (tensor<4x16xf32>, tensor<4x1xf32>) -> tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}

// -----

// A reduction over a leading axis is not a row reduction either.
// CHECK-LABEL: func.func @leading_axis
// CHECK-NEXT: kiln.dispatch : tensor<1x64xf32> {
// CHECK-NEXT:   kiln.sum %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64x64xf32> {
// CHECK-NEXT:   kiln.mul
func.func @leading_axis(%x: tensor<64x64xf32>) -> tensor<64x64xf32> {
  %s = kiln.sum %x {axes = array<i64: 0>, keepdims = true} : (tensor<64x64xf32>) -> tensor<1x64xf32>
  %m = kiln.mul %x, %s : (tensor<64x64xf32>, tensor<1x64xf32>) -> tensor<64x64xf32>
  return %m : tensor<64x64xf32>
}

// -----

// Slices, matmuls and other non-elementwise ops neither fuse into their
// consumer nor take fused producers: each is a region of its own, even fed
// by a single-use elementwise op.
// CHECK-LABEL: func.func @slice_and_matmul
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<8x8xf32> {
// CHECK-NEXT:   kiln.exp %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[S:.*]] = kiln.dispatch : tensor<8x4xf32> {
// CHECK-NEXT:   kiln.slice %[[E]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[N:.*]] = kiln.dispatch : tensor<8x4xf32> {
// CHECK-NEXT:   kiln.neg %[[S]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<8x4xf32> {
// CHECK-NEXT:   kiln.matmul %arg0, %[[N]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @slice_and_matmul(%x: tensor<8x8xf32>) -> tensor<8x4xf32> {
  %e = kiln.exp %x : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = kiln.slice %e {start = array<i64: 0, 0>, limit = array<i64: 8, 4>, stride = array<i64: 1, 1>} : (tensor<8x8xf32>) -> tensor<8x4xf32>
  %n = kiln.neg %s : (tensor<8x4xf32>) -> tensor<8x4xf32>
  %m = kiln.matmul %x, %n {transpose_a = false, transpose_b = false} : (tensor<8x8xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  return %m : tensor<8x4xf32>
}
