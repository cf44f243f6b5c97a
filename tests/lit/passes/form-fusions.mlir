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

// A producer whose uses all sit in one kernel fuses into it (x * x reads
// exp(x) twice; the kernel computes it where it reads it).
// CHECK-LABEL: func.func @multi_use
// CHECK-NEXT: kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   %[[E:.*]] = kiln.exp %arg0
// CHECK-NEXT:   kiln.add %[[E]], %[[E]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @multi_use(%x: tensor<64xf32>) -> tensor<64xf32> {
  %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %a = kiln.add %e, %e : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  return %a : tensor<64xf32>
}

// -----

// A producer read by two kernels is stored once and read by both.
// CHECK-LABEL: func.func @two_kernels
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<8x8xf32> {
// CHECK-NEXT:   kiln.exp %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[N:.*]] = kiln.dispatch : tensor<8x8xf32> {
// CHECK-NEXT:   kiln.neg %[[E]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<8x8xf32> {
// CHECK-NEXT:   kiln.matmul %[[E]], %[[N]]
func.func @two_kernels(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %e = kiln.exp %x : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %n = kiln.neg %e : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = kiln.matmul %e, %n {transpose_a = false, transpose_b = false} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %m : tensor<8x8xf32>
}

// -----

// A costly producer read by two ops of one kernel would be computed twice per
// element: it keeps its own kernel. A cheap one (a cast) is recomputed.
// CHECK-LABEL: func.func @costly_twice
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.exp %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   %[[C:.*]] = kiln.cast %arg1 {to = f32}
// CHECK-NEXT:   %[[A:.*]] = kiln.neg %[[E]]
// CHECK-NEXT:   %[[B:.*]] = kiln.mul %[[E]], %[[C]]
// CHECK-NEXT:   %[[D:.*]] = kiln.add %[[A]], %[[C]]
// CHECK-NEXT:   kiln.sub %[[B]], %[[D]]
func.func @costly_twice(%x: tensor<64xf32>, %y: tensor<64xbf16>) -> tensor<64xf32> {
  %c = kiln.cast %y {to = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %a = kiln.neg %e : (tensor<64xf32>) -> tensor<64xf32>
  %b = kiln.mul %e, %c : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %d = kiln.add %a, %c : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  %s = kiln.sub %b, %d : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
  return %s : tensor<64xf32>
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

// A cast of a kernel input (a norm weight) is a load and a conversion: it is
// recomputed even where its consumer broadcasts it.
// CHECK-LABEL: func.func @broadcast_cast_of_input
// CHECK-NEXT: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   %[[C:.*]] = kiln.cast %arg1 {to = f32}
// CHECK-NEXT:   kiln.mul %arg0, %[[C]]
// CHECK-NEXT:   kiln.yield
func.func @broadcast_cast_of_input(%x: tensor<4x8xf32>, %w: tensor<8xbf16>) -> tensor<4x8xf32> {
  %c = kiln.cast %w {to = f32} : (tensor<8xbf16>) -> tensor<8xf32>
  %m = kiln.mul %x, %c : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %m : tensor<4x8xf32>
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

// Index remaps (slice, transpose, concat) read through: the exp, the slice
// and the neg are one kernel; matmuls take no fused producers.
// CHECK-LABEL: func.func @slice_and_matmul
// CHECK-NEXT: %[[N:.*]] = kiln.dispatch : tensor<8x4xf32> {
// CHECK-NEXT:   %[[E:.*]] = kiln.exp %arg0
// CHECK-NEXT:   %[[S:.*]] = kiln.slice %[[E]]
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

// -----

// RoPE's chain (rotate-half form): two slices of x, products with cos and
// sin, and the concat of the halves are one kernel rooted at the concat;
// the bf16 -> f32 cast of x is read by both slices and fuses too.
// CHECK-LABEL: func.func @rope_chain
// CHECK-NEXT: kiln.dispatch : tensor<4x16xf32> {
// CHECK-NEXT:   kiln.cast %arg0
// CHECK-NEXT:   kiln.slice
// CHECK-NEXT:   kiln.slice
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.sub
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.add
// CHECK-NEXT:   kiln.concat
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @rope_chain(%x: tensor<4x16xbf16>, %cos: tensor<4x8xf32>, %sin: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %f = kiln.cast %x {to = f32} : (tensor<4x16xbf16>) -> tensor<4x16xf32>
  %a = kiln.slice %f {start = array<i64: 0, 0>, limit = array<i64: 4, 8>, stride = array<i64: 1, 1>} : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %b = kiln.slice %f {start = array<i64: 0, 8>, limit = array<i64: 4, 16>, stride = array<i64: 1, 1>} : (tensor<4x16xf32>) -> tensor<4x8xf32>
  %ac = kiln.mul %a, %cos : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %bs = kiln.mul %b, %sin : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %lo = kiln.sub %ac, %bs : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %bc = kiln.mul %b, %cos : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %as = kiln.mul %a, %sin : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %hi = kiln.add %bc, %as : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %r = kiln.concat %lo, %hi {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

// rms_norm as the model writes it: the residual stream's cast to f32 has
// three uses (x * x for the mean, x * r), all in the row kernel; the norm
// weight's cast fuses although the product broadcasts it.
// CHECK-LABEL: func.func @rms_norm_cast
// CHECK-NEXT: kiln.constant
// CHECK-NEXT: kiln.dispatch : tensor<4x64xbf16> {
// CHECK-NEXT:   kiln.cast %arg1 {to = f32}
// CHECK-NEXT:   kiln.cast %arg0 {to = f32}
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.mean
// CHECK-NEXT:   kiln.add
// CHECK-NEXT:   kiln.rsqrt
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.cast
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @rms_norm_cast(%x: tensor<4x64xbf16>, %w: tensor<64xbf16>) -> tensor<4x64xbf16> {
  %eps = kiln.constant {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  %wf = kiln.cast %w {to = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %f = kiln.cast %x {to = f32} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
  %sq = kiln.mul %f, %f : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
  %ms = kiln.mean %sq {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %pe = kiln.add %ms, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %r = kiln.rsqrt %pe : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = kiln.mul %f, %r : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  %y = kiln.mul %n, %wf : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  %o = kiln.cast %y {to = bf16} : (tensor<4x64xf32>) -> tensor<4x64xbf16>
  return %o : tensor<4x64xbf16>
}

// -----

// A transpose feeding a matmul keeps its kernel (matmuls take no fused
// producers) but reads its elementwise producer through.
// CHECK-LABEL: func.func @transpose_root
// CHECK-NEXT: %[[T:.*]] = kiln.dispatch : tensor<8x4xbf16> {
// CHECK-NEXT:   kiln.cast %arg0
// CHECK-NEXT:   kiln.transpose
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<8x8xbf16> {
// CHECK-NEXT:   kiln.matmul %[[T]], %arg1
func.func @transpose_root(%x: tensor<4x8xf32>, %w: tensor<4x8xbf16>) -> tensor<8x8xbf16> {
  %c = kiln.cast %x {to = bf16} : (tensor<4x8xf32>) -> tensor<4x8xbf16>
  %t = kiln.transpose %c {perm = array<i64: 1, 0>} : (tensor<4x8xbf16>) -> tensor<8x4xbf16>
  %m = kiln.matmul %t, %w {transpose_a = false, transpose_b = false} : (tensor<8x4xbf16>, tensor<4x8xbf16>) -> tensor<8x8xbf16>
  return %m : tensor<8x8xbf16>
}

// -----

// A reshape read only inside one region moves into it: the transpose, the
// reshape and the product are one kernel. A reshape read by a matmul stays
// an alias outside every region.
// CHECK-LABEL: func.func @through_reshape
// CHECK-NEXT: %[[D:.*]] = kiln.dispatch : tensor<8x4xf32> {
// CHECK-NEXT:   kiln.transpose %arg0
// CHECK-NEXT:   kiln.reshape
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[R:.*]] = kiln.reshape %[[D]]
// CHECK-NEXT: kiln.dispatch : tensor<32x32xf32> {
// CHECK-NEXT:   kiln.matmul %[[R]], %[[R]]
func.func @through_reshape(%x: tensor<4x2x4xf32>, %y: tensor<8x4xf32>) -> tensor<32x32xf32> {
  %t = kiln.transpose %x {perm = array<i64: 1, 0, 2>} : (tensor<4x2x4xf32>) -> tensor<2x4x4xf32>
  %r = kiln.reshape %t {shape = array<i64: 8, 4>} : (tensor<2x4x4xf32>) -> tensor<8x4xf32>
  %m = kiln.mul %r, %y : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %s = kiln.reshape %m {shape = array<i64: 32, 1>} : (tensor<8x4xf32>) -> tensor<32x1xf32>
  %q = kiln.matmul %s, %s {transpose_a = false, transpose_b = true} : (tensor<32x1xf32>, tensor<32x1xf32>) -> tensor<32x32xf32>
  return %q : tensor<32x32xf32>
}

// -----

// A row region's root does not fuse into a remap after it: the row kernel
// reduces rows of the root's own shape first. (A row chain ending in another
// reduction is no row region: the max keeps its kernel, the sub fuses into
// the sum.)
// CHECK-LABEL: func.func @row_root_stays
// CHECK-NEXT: %[[D:.*]] = kiln.dispatch : tensor<4x64xf32> {
// CHECK-NEXT:   kiln.max %arg0
// CHECK-NEXT:   kiln.sub
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64x4xf32> {
// CHECK-NEXT:   kiln.transpose %[[D]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<4x1xf32> {
// CHECK-NEXT:   kiln.max %arg1
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.sub %arg1, %[[E]]
// CHECK-NEXT:   kiln.sum
func.func @row_root_stays(%x: tensor<4x64xf32>, %y: tensor<4x64xf32>) -> (tensor<64x4xf32>, tensor<64xf32>) {
  %m = kiln.max %x {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %s = kiln.sub %x, %m : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  %t = kiln.transpose %s {perm = array<i64: 1, 0>} : (tensor<4x64xf32>) -> tensor<64x4xf32>
  %n = kiln.max %y {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %u = kiln.sub %y, %n : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  %z = kiln.sum %u {axes = array<i64: 0>, keepdims = false} : (tensor<4x64xf32>) -> tensor<64xf32>
  return %t, %z : tensor<64x4xf32>, tensor<64xf32>
}

// -----

// A cheap producer read by several kernels is cloned into each instead of
// launching its own: the residual stream's bf16 add, read by the next layer's
// rms_norm row kernel and by the next residual add, is recomputed by both
// (each reads h and o where it would read the sum).
// CHECK-LABEL: func.func @clone_residual_add
// CHECK-NEXT: kiln.constant
// CHECK-NEXT: kiln.dispatch : tensor<4x64xbf16> {
// CHECK-NEXT:   %[[A:.*]] = kiln.add %arg0, %arg1
// CHECK-NEXT:   kiln.cast %[[A]] {to = f32}
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.mean
// CHECK:        kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<4x64xbf16> {
// CHECK-NEXT:   %[[B:.*]] = kiln.add %arg0, %arg1
// CHECK-NEXT:   kiln.add %[[B]], %arg2
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @clone_residual_add(%h: tensor<4x64xbf16>, %o: tensor<4x64xbf16>, %m: tensor<4x64xbf16>) -> (tensor<4x64xbf16>, tensor<4x64xbf16>) {
  %eps = kiln.constant {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  %a = kiln.add %h, %o : (tensor<4x64xbf16>, tensor<4x64xbf16>) -> tensor<4x64xbf16>
  %f = kiln.cast %a {to = f32} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
  %sq = kiln.mul %f, %f : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
  %ms = kiln.mean %sq {axes = array<i64: 1>, keepdims = true} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %pe = kiln.add %ms, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %r = kiln.rsqrt %pe : (tensor<4x1xf32>) -> tensor<4x1xf32>
  %n = kiln.mul %f, %r : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  %y = kiln.cast %n {to = bf16} : (tensor<4x64xf32>) -> tensor<4x64xbf16>
  %b = kiln.add %a, %m : (tensor<4x64xbf16>, tensor<4x64xbf16>) -> tensor<4x64xbf16>
  return %y, %b : tensor<4x64xbf16>, tensor<4x64xbf16>
}

// -----

// Chains of casts, reshapes and remaps are cloned whole: RoPE's cos table,
// cast and reshaped for the heads, is recomputed by the q rotation (which
// broadcasts it over heads: a load and a conversion per read) and by the k
// rotation; the transpose of q is recomputed by both kernels reading it.
// CHECK-LABEL: func.func @clone_cheap_chains
// CHECK-NEXT: kiln.dispatch : tensor<8x4x16xf32> {
// CHECK-NEXT:   %[[C:.*]] = kiln.cast %arg0 {to = f32}
// CHECK-NEXT:   %[[R:.*]] = kiln.reshape %[[C]]
// CHECK-NEXT:   %[[T:.*]] = kiln.transpose %arg1
// CHECK-NEXT:   kiln.mul %[[T]], %[[R]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<8x16xf32> {
// CHECK-NEXT:   %[[C2:.*]] = kiln.cast %arg0 {to = f32}
// CHECK-NEXT:   kiln.mul %arg2, %[[C2]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<8x4x16xf32> {
// CHECK-NEXT:   %[[T2:.*]] = kiln.transpose %arg1
// CHECK-NEXT:   kiln.exp %[[T2]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @clone_cheap_chains(%cos: tensor<8x16xbf16>, %q: tensor<4x8x16xf32>, %k: tensor<8x16xf32>) -> (tensor<8x4x16xf32>, tensor<8x16xf32>, tensor<8x4x16xf32>) {
  %c = kiln.cast %cos {to = f32} : (tensor<8x16xbf16>) -> tensor<8x16xf32>
  %cr = kiln.reshape %c {shape = array<i64: 8, 1, 16>} : (tensor<8x16xf32>) -> tensor<8x1x16xf32>
  %qt = kiln.transpose %q {perm = array<i64: 1, 0, 2>} : (tensor<4x8x16xf32>) -> tensor<8x4x16xf32>
  %qc = kiln.mul %qt, %cr : (tensor<8x4x16xf32>, tensor<8x1x16xf32>) -> tensor<8x4x16xf32>
  %kc = kiln.mul %k, %c : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %qe = kiln.exp %qt : (tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %qc, %kc, %qe : tensor<8x4x16xf32>, tensor<8x16xf32>, tensor<8x4x16xf32>
}

// -----

// Near-misses. A costly producer (exp) read by two kernels keeps its own
// kernel rather than be computed twice.
// CHECK-LABEL: func.func @costly_not_cloned
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.exp %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.neg %[[E]]
// CHECK:      kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.abs %[[E]]
func.func @costly_not_cloned(%x: tensor<64xf32>) -> (tensor<64xf32>, tensor<64xf32>) {
  %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %a = kiln.neg %e : (tensor<64xf32>) -> tensor<64xf32>
  %b = kiln.abs %e : (tensor<64xf32>) -> tensor<64xf32>
  return %a, %b : tensor<64xf32>, tensor<64xf32>
}

// -----

// A residual stream over two layers: only one add on any path of reads may
// be a clone (kMaxClonedArithmetic), or each layer's clone would re-add every
// earlier layer. The second add is cloned into its two readers; the first,
// read by the second's clones, keeps its kernel.
// CHECK-LABEL: func.func @clone_chain_bounded
// CHECK-NEXT: %[[A1:.*]] = kiln.dispatch : tensor<64xbf16> {
// CHECK-NEXT:   kiln.add %arg0, %arg1
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xbf16> {
// CHECK-NEXT:   kiln.neg %[[A1]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xbf16> {
// CHECK-NEXT:   %[[A2:.*]] = kiln.add %[[A1]], %arg2
// CHECK-NEXT:   kiln.neg %[[A2]]
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NEXT: kiln.dispatch : tensor<64xbf16> {
// CHECK-NEXT:   %[[A3:.*]] = kiln.add %[[A1]], %arg2
// CHECK-NEXT:   kiln.add %[[A3]], %arg3
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
func.func @clone_chain_bounded(%h: tensor<64xbf16>, %o1: tensor<64xbf16>, %o2: tensor<64xbf16>, %o3: tensor<64xbf16>) -> (tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>) {
  %a1 = kiln.add %h, %o1 : (tensor<64xbf16>, tensor<64xbf16>) -> tensor<64xbf16>
  %n1 = kiln.neg %a1 : (tensor<64xbf16>) -> tensor<64xbf16>
  %a2 = kiln.add %a1, %o2 : (tensor<64xbf16>, tensor<64xbf16>) -> tensor<64xbf16>
  %n2 = kiln.neg %a2 : (tensor<64xbf16>) -> tensor<64xbf16>
  %a3 = kiln.add %a2, %o3 : (tensor<64xbf16>, tensor<64xbf16>) -> tensor<64xbf16>
  return %n1, %n2, %a3 : tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>
}

// -----

// Reads bound the clones: an f32 -> bf16 cast of a computed value is cloned
// into three kernels (each reads 4 bytes where it would read 2; 3 * 4 <=
// 4 + 2 * 4, what its own kernel and the reads of its result move), not into
// four (that one keeps its kernel, with the exp it alone reads).
// CHECK-LABEL: func.func @narrowing_cast_reads
// CHECK-NEXT: %[[E:.*]] = kiln.dispatch : tensor<64xf32> {
// CHECK-NEXT:   kiln.exp %arg0
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-COUNT-3: kiln.cast %[[E]] {to = bf16}
// CHECK-NOT:  kiln.cast %[[E]]
// CHECK:      %[[B:.*]] = kiln.dispatch : tensor<64xbf16> {
// CHECK-NEXT:   %[[F:.*]] = kiln.exp %arg1
// CHECK-NEXT:   kiln.cast %[[F]] {to = bf16}
// CHECK-NEXT:   kiln.yield
// CHECK-NEXT: }
// CHECK-NOT:  kiln.cast
func.func @narrowing_cast_reads(%x: tensor<64xf32>, %y: tensor<64xf32>) -> (tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>) {
  %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %c = kiln.cast %e {to = bf16} : (tensor<64xf32>) -> tensor<64xbf16>
  %c1 = kiln.neg %c : (tensor<64xbf16>) -> tensor<64xbf16>
  %c2 = kiln.abs %c : (tensor<64xbf16>) -> tensor<64xbf16>
  %c3 = kiln.sign %c : (tensor<64xbf16>) -> tensor<64xbf16>
  %f = kiln.exp %y : (tensor<64xf32>) -> tensor<64xf32>
  %d = kiln.cast %f {to = bf16} : (tensor<64xf32>) -> tensor<64xbf16>
  %d1 = kiln.neg %d : (tensor<64xbf16>) -> tensor<64xbf16>
  %d2 = kiln.abs %d : (tensor<64xbf16>) -> tensor<64xbf16>
  %d3 = kiln.sign %d : (tensor<64xbf16>) -> tensor<64xbf16>
  %d4 = kiln.exp %d : (tensor<64xbf16>) -> tensor<64xbf16>
  return %c1, %c2, %c3, %d1, %d2, %d3, %d4 : tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<64xbf16>
}

// -----

// A decode attention (one query a head, one kv head) reads its key through
// the concat of the latent and RoPE caches: the concat and its reshape join
// the attention's region, and the producers of the concat's parts (the cache
// writes, which are returned) stay kernels of their own. The value's reshape
// of the latent stays an alias.
// CHECK-LABEL: func.func @decode_key_concat
// CHECK: %[[LAT:.*]] = kiln.dispatch : tensor<2x9x8xbf16> {
// CHECK: %[[ROPE:.*]] = kiln.dispatch : tensor<2x9x4xbf16> {
// CHECK: %[[V:.*]] = kiln.reshape %[[LAT]]
// CHECK: kiln.dispatch : tensor<2x4x1x8xbf16> {
// CHECK-NEXT:   %[[J:.*]] = kiln.concat %[[LAT]], %[[ROPE]] {axis = 2 : i64}
// CHECK-NEXT:   %[[K:.*]] = kiln.reshape %[[J]]
// CHECK-NEXT:   kiln.attention %arg4, %[[K]], %[[V]]
func.func @decode_key_concat(%lat: tensor<2x9x8xbf16>, %rope: tensor<2x9x4xbf16>, %nl: tensor<2x9x8xbf16>,
                             %nr: tensor<2x9x4xbf16>, %q: tensor<2x4x1x12xbf16>)
    -> (tensor<2x4x1x8xbf16>, tensor<2x9x8xbf16>, tensor<2x9x4xbf16>) {
  %l = kiln.add %lat, %nl : (tensor<2x9x8xbf16>, tensor<2x9x8xbf16>) -> tensor<2x9x8xbf16>
  %r = kiln.add %rope, %nr : (tensor<2x9x4xbf16>, tensor<2x9x4xbf16>) -> tensor<2x9x4xbf16>
  %j = kiln.concat %l, %r {axis = 2 : i64} : (tensor<2x9x8xbf16>, tensor<2x9x4xbf16>) -> tensor<2x9x12xbf16>
  %k = kiln.reshape %j {shape = array<i64: 2, 1, 9, 12>} : (tensor<2x9x12xbf16>) -> tensor<2x1x9x12xbf16>
  %v = kiln.reshape %l {shape = array<i64: 2, 1, 9, 8>} : (tensor<2x9x8xbf16>) -> tensor<2x1x9x8xbf16>
  %a = kiln.attention %q, %k, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x1x12xbf16>, tensor<2x1x9x12xbf16>, tensor<2x1x9x8xbf16>) -> tensor<2x4x1x8xbf16>
  return %a, %l, %r : tensor<2x4x1x8xbf16>, tensor<2x9x8xbf16>, tensor<2x9x4xbf16>
}

// -----

// Near misses keep the concat a kernel of its own: a second reader of the
// joined key, and an attention with two query positions (not a decode).
// CHECK-LABEL: func.func @decode_key_concat_near_misses
// CHECK: %[[J:.*]] = kiln.dispatch : tensor<2x9x12xbf16> {
// CHECK-NEXT:   kiln.concat
// CHECK: kiln.dispatch : tensor<2x4x1x8xbf16> {
// CHECK-NEXT:   kiln.attention
// CHECK: kiln.dispatch : tensor<2x9x12xbf16> {
// CHECK-NEXT:   kiln.concat
// CHECK: kiln.dispatch : tensor<2x4x2x8xbf16> {
// CHECK-NEXT:   kiln.attention
func.func @decode_key_concat_near_misses(%lat: tensor<2x9x8xbf16>, %rope: tensor<2x9x4xbf16>, %q: tensor<2x4x1x12xbf16>,
                                         %q2: tensor<2x4x2x12xbf16>)
    -> (tensor<2x4x1x8xbf16>, tensor<2x9x12xbf16>, tensor<2x4x2x8xbf16>) {
  %j = kiln.concat %lat, %rope {axis = 2 : i64} : (tensor<2x9x8xbf16>, tensor<2x9x4xbf16>) -> tensor<2x9x12xbf16>
  %k = kiln.reshape %j {shape = array<i64: 2, 1, 9, 12>} : (tensor<2x9x12xbf16>) -> tensor<2x1x9x12xbf16>
  %v = kiln.reshape %lat {shape = array<i64: 2, 1, 9, 8>} : (tensor<2x9x8xbf16>) -> tensor<2x1x9x8xbf16>
  %a = kiln.attention %q, %k, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x1x12xbf16>, tensor<2x1x9x12xbf16>, tensor<2x1x9x8xbf16>) -> tensor<2x4x1x8xbf16>
  %j2 = kiln.concat %lat, %rope {axis = 2 : i64} : (tensor<2x9x8xbf16>, tensor<2x9x4xbf16>) -> tensor<2x9x12xbf16>
  %k2 = kiln.reshape %j2 {shape = array<i64: 2, 1, 9, 12>} : (tensor<2x9x12xbf16>) -> tensor<2x1x9x12xbf16>
  %b = kiln.attention %q2, %k2, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x2x12xbf16>, tensor<2x1x9x12xbf16>, tensor<2x1x9x8xbf16>) -> tensor<2x4x2x8xbf16>
  return %a, %j, %b : tensor<2x4x1x8xbf16>, tensor<2x9x12xbf16>, tensor<2x4x2x8xbf16>
}

// -----

// An exact widening cast read only by an f32 matmul (a router's input) is
// read through by the CUDA-core kernel; a narrowing cast, or a widening one
// with a second reader, stays a kernel of its own.
// CHECK-LABEL: func.func @widening_cast_into_matmul
// CHECK: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   %[[C:.*]] = kiln.cast %arg0
// CHECK-NEXT:   kiln.matmul %[[C]], %arg1
// CHECK: %[[W:.*]] = kiln.dispatch : tensor<4x16xf32> {
// CHECK-NEXT:   kiln.cast %arg0
// CHECK: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   kiln.matmul %[[W]], %arg1
// CHECK: kiln.dispatch : tensor<4x16xbf16> {
// CHECK-NEXT:   kiln.cast %arg2
// CHECK: kiln.dispatch : tensor<4x8xbf16> {
// CHECK-NEXT:   kiln.matmul
func.func @widening_cast_into_matmul(%x: tensor<4x16xbf16>, %w: tensor<16x8xf32>, %y: tensor<4x16xf32>, %v: tensor<16x8xbf16>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<4x8xbf16>) {
  %c = kiln.cast %x {to = f32} : (tensor<4x16xbf16>) -> tensor<4x16xf32>
  %m = kiln.matmul %c, %w {transpose_a = false, transpose_b = false} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %c2 = kiln.cast %x {to = f32} : (tensor<4x16xbf16>) -> tensor<4x16xf32>
  %m2 = kiln.matmul %c2, %w {transpose_a = false, transpose_b = false} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %n = kiln.cast %y {to = bf16} : (tensor<4x16xf32>) -> tensor<4x16xbf16>
  %m3 = kiln.matmul %n, %v {transpose_a = false, transpose_b = false} : (tensor<4x16xbf16>, tensor<16x8xbf16>) -> tensor<4x8xbf16>
  return %m, %m2, %c2, %m3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>, tensor<4x8xbf16>
}

// -----

// A moe_combine applies the routing weights itself: the gather of each
// routed row's weight (by the combine's own order) and the scaled, rounded
// rows join its region, so neither is launched or written.
// CHECK-LABEL: func.func @weighted_combine
// CHECK: kiln.dispatch : tensor<4x8xbf16> {
// CHECK-NEXT:   kiln.cast %arg0
// CHECK-NEXT:   kiln.gather %arg1, %arg2
// CHECK-NEXT:   kiln.reshape
// CHECK-NEXT:   kiln.mul
// CHECK-NEXT:   kiln.cast
// CHECK-NEXT:   kiln.moe_combine
// CHECK-NOT: kiln.dispatch
func.func @weighted_combine(%y: tensor<8x8xbf16>, %w: tensor<8xf32>, %order: tensor<8xi64>, %slot: tensor<4x2xi64>) -> tensor<4x8xbf16> {
  %yf = kiln.cast %y {to = f32} : (tensor<8x8xbf16>) -> tensor<8x8xf32>
  %g = kiln.gather %w, %order {axis = 0 : i64} : (tensor<8xf32>, tensor<8xi64>) -> tensor<8xf32>
  %g2 = kiln.reshape %g {shape = array<i64: 8, 1>} : (tensor<8xf32>) -> tensor<8x1xf32>
  %p = kiln.mul %yf, %g2 : (tensor<8x8xf32>, tensor<8x1xf32>) -> tensor<8x8xf32>
  %r = kiln.cast %p {to = bf16} : (tensor<8x8xf32>) -> tensor<8x8xbf16>
  %c = kiln.moe_combine %r, %order, %slot : (tensor<8x8xbf16>, tensor<8xi64>, tensor<4x2xi64>) -> tensor<4x8xbf16>
  return %c : tensor<4x8xbf16>
}

// -----

// Near misses: weights gathered by another order, and scaled rows with a
// second reader, stay kernels of their own; so does everything in front of
// a plain combine.
// CHECK-LABEL: func.func @weighted_combine_near_misses
// CHECK: kiln.dispatch : tensor<8xf32> {
// CHECK-NEXT:   kiln.gather %arg1, %arg4
// CHECK: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   kiln.moe_combine
// CHECK: kiln.dispatch : tensor<8x8xf32> {
// CHECK: kiln.dispatch : tensor<4x8xf32> {
// CHECK-NEXT:   kiln.moe_combine
func.func @weighted_combine_near_misses(%y: tensor<8x8xf32>, %w: tensor<8xf32>, %order: tensor<8xi64>, %slot: tensor<4x2xi64>, %other: tensor<8xi64>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x8xf32>) {
  %g = kiln.gather %w, %other {axis = 0 : i64} : (tensor<8xf32>, tensor<8xi64>) -> tensor<8xf32>
  %g2 = kiln.reshape %g {shape = array<i64: 8, 1>} : (tensor<8xf32>) -> tensor<8x1xf32>
  %p = kiln.mul %y, %g2 : (tensor<8x8xf32>, tensor<8x1xf32>) -> tensor<8x8xf32>
  %c = kiln.moe_combine %p, %order, %slot : (tensor<8x8xf32>, tensor<8xi64>, tensor<4x2xi64>) -> tensor<4x8xf32>
  %h = kiln.gather %w, %order {axis = 0 : i64} : (tensor<8xf32>, tensor<8xi64>) -> tensor<8xf32>
  %h2 = kiln.reshape %h {shape = array<i64: 8, 1>} : (tensor<8xf32>) -> tensor<8x1xf32>
  %q = kiln.mul %y, %h2 : (tensor<8x8xf32>, tensor<8x1xf32>) -> tensor<8x8xf32>
  %d = kiln.moe_combine %q, %order, %slot : (tensor<8x8xf32>, tensor<8xi64>, tensor<4x2xi64>) -> tensor<4x8xf32>
  return %c, %d, %q : tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x8xf32>
}
