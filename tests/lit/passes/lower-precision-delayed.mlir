// The fp8-delayed policy: kiln-assign-precision tags the weight GEMM with
// scaling = "delayed" and a history length, kiln-grad copies the tag onto the
// gradient's two GEMMs, and kiln-lower-precision quantizes each operand with
// one scale from its amax history: a state of kind "precision" (zeros) that
// the step reads and returns with this step's amax shifted in. The weight,
// read by the forward and the input gradient in the same 128x128 blocks,
// takes one history; the same scaled_matmuls as current scaling follow. A
// forward-only module's two operands get one history each, named from its
// own weight and none of the first module's.
// RUN: kiln-opt %s --split-input-file --kiln-assign-precision=policy=fp8-delayed --kiln-grad --kiln-lower-precision | FileCheck %s
// RUN: not kiln-opt %s --split-input-file --kiln-assign-precision=policy=fp8-late 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK: kiln.state = [{kind = "parameter", name = "up_proj.weight"
// CHECK-SAME: {init = "zeros", kind = "precision", name = "precision.amax.up_proj.weight.0", type = tensor<16xf32>}
// CHECK-SAME: name = "precision.amax.up_proj.weight.4", type = tensor<16xf32>}]
// CHECK: func.func @step({{.*}}%[[H0:arg2]]: tensor<16xf32> {kiln.state = "precision.amax.up_proj.weight.0"}
// CHECK-SAME: %arg6: tensor<16xf32> {kiln.state = "precision.amax.up_proj.weight.4"})
// CHECK-SAME: tensor<16xf32> {kiln.state = "precision.amax.up_proj.weight.0"}
// CHECK-NOT: kiln.quantize
// The activation's amax against the largest of its history (zero: the
// current amax scales), the scale spread over its 1x128 tiles:
// CHECK: %[[AMAX:.*]] = kiln.max %{{.*}} {axes = array<i64: 0, 1>, keepdims = false}
// CHECK: %[[PAST:.*]] = kiln.max %[[H0]] {axes = array<i64: 0>, keepdims = false}
// CHECK: kiln.cast %{{.*}} {to = f8E4M3FN}
// CHECK: kiln.broadcast_to %{{.*}} {shape = array<i64: 6, 1>}
// This step's amax first, the oldest dropped:
// CHECK: %[[NEW:.*]] = kiln.reshape %[[AMAX]] {shape = array<i64: 1>}
// CHECK: %[[KEPT:.*]] = kiln.slice %[[H0]] {{.*}}limit = array<i64: 15>
// CHECK: %[[NEXT0:.*]] = kiln.concat %[[NEW]], %[[KEPT]]
// CHECK: kiln.scaled_matmul {{.*}}a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>{{.*}}scaling = "delayed"
// CHECK-COUNT-2: kiln.scaled_matmul
// CHECK: return {{.*}}%[[NEXT0]],
// BAD: unknown policy 'fp8-late' (expected bf16, fp8, fp8-delayed or int4)
module attributes {kiln.state = [
    {name = "up_proj.weight", type = tensor<256x128xbf16>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x3x128xbf16> {kiln.name = "x"},
                  %w: tensor<256x128xbf16> {kiln.state = "up_proj.weight"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<2x3x128xbf16> {kiln.name = "dx"},
          tensor<256x128xbf16> {kiln.name = "dw"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> tensor<2x3x256xbf16>
    %y2 = kiln.cast %y {to = f32} : (tensor<2x3x256xbf16>) -> tensor<2x3x256xf32>
    %y3 = kiln.mul %y2, %y2 : (tensor<2x3x256xf32>, tensor<2x3x256xf32>) -> tensor<2x3x256xf32>
    %l = kiln.mean %y3 {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<2x3x256xf32>) -> tensor<f32>
    %g:2 = kiln.grad %l, %x, %w : (tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> (tensor<2x3x128xbf16>, tensor<256x128xbf16>)
    return %l, %g#0, %g#1 : tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>
  }
}

// -----

// CHECK-LABEL: func.func @forward
// CHECK-SAME: %arg2: tensor<16xf32> {kiln.state = "precision.amax.down_proj.weight.0"}
// CHECK-SAME: %arg3: tensor<16xf32> {kiln.state = "precision.amax.down_proj.weight.1"})
// CHECK-NOT: up_proj
// CHECK: return
module attributes {kiln.state = [
    {name = "down_proj.weight", type = tensor<64x128xbf16>, kind = "parameter"}]} {
  func.func @forward(%x: tensor<4x128xbf16> {kiln.name = "x"},
                     %w: tensor<64x128xbf16> {kiln.state = "down_proj.weight"})
      -> (tensor<4x64xbf16> {kiln.name = "y"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<4x128xbf16>, tensor<64x128xbf16>) -> tensor<4x64xbf16>
    return %y : tensor<4x64xbf16>
  }
}
