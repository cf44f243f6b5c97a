// kiln-hoist-derived-state=keep-int4-weight-dequantize (the ptx pipeline's
// setting): an int4 weight that a GEMM reads in the form it can dequantize as
// it loads it (isGemmInt4Weight) stays packed in derived state, its quantize
// hoisted and its dequantize left in the entry for the GEMM; a dequantize in
// any other form (here a [K, N] weight) is hoisted whole as before. Without
// the option both are hoisted to bf16.
// RUN: kiln-opt %s --kiln-hoist-derived-state=keep-int4-weight-dequantize | FileCheck %s --check-prefix=KEEP
// RUN: kiln-opt %s --kiln-hoist-derived-state | FileCheck %s --check-prefix=WHOLE

// KEEP: kiln.state = [
// KEEP-SAME: name = "derived.up.weight.0", sources = ["up.weight"], type = tensor<96x256xi4>
// KEEP-SAME: name = "derived.up.weight.1", sources = ["up.weight"], type = tensor<96x2xf32>
// KEEP-SAME: name = "derived.down.weight.0", sources = ["down.weight"], type = tensor<96x256xbf16>
// KEEP-LABEL: func.func @decode
// KEEP-SAME: %[[Q:arg[0-9]+]]: tensor<96x256xi4> {kiln.name = "derived.up.weight.0"
// KEEP-SAME: %[[S:arg[0-9]+]]: tensor<96x2xf32> {kiln.name = "derived.up.weight.1"
// KEEP-SAME: %[[D:arg[0-9]+]]: tensor<96x256xbf16> {kiln.name = "derived.down.weight.0"
// KEEP-NOT: kiln.quantize
// KEEP: %[[W:.*]] = kiln.dequantize %[[Q]], %[[S]] {block = array<i64: 1, 128>, dtype = bf16}
// KEEP-NEXT: kiln.matmul %arg0, %[[W]] {transpose_a = false, transpose_b = true}
// KEEP-NEXT: kiln.matmul %{{.*}}, %[[D]] {transpose_a = false, transpose_b = false}
// KEEP-LABEL: func.func @kiln.derive_state
// KEEP: kiln.quantize
// KEEP: kiln.quantize
// KEEP-NEXT: kiln.dequantize

// WHOLE: name = "derived.up.weight.0", sources = ["up.weight"], type = tensor<96x256xbf16>
// WHOLE-LABEL: func.func @decode
// WHOLE-NOT: kiln.dequantize
// WHOLE: return
module attributes {kiln.state = [
    {name = "up.weight", type = tensor<96x256xbf16>, kind = "parameter"},
    {name = "down.weight", type = tensor<96x256xbf16>, kind = "parameter"}]} {
  func.func @decode(%x: tensor<4x256xbf16> {kiln.name = "x"},
                    %up: tensor<96x256xbf16> {kiln.state = "up.weight"},
                    %down: tensor<96x256xbf16> {kiln.state = "down.weight"})
      -> (tensor<4x256xbf16> {kiln.name = "y"}) {
    %q, %s = kiln.quantize %up {block = array<i64: 1, 128>, dtype = i4} : (tensor<96x256xbf16>) -> (tensor<96x256xi4>, tensor<96x2xf32>)
    %w = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<96x256xi4>, tensor<96x2xf32>) -> tensor<96x256xbf16>
    %h = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<4x256xbf16>, tensor<96x256xbf16>) -> tensor<4x96xbf16>
    %qd, %sd = kiln.quantize %down {block = array<i64: 128, 1>, dtype = i4} : (tensor<96x256xbf16>) -> (tensor<96x256xi4>, tensor<1x256xf32>)
    %wd = kiln.dequantize %qd, %sd {block = array<i64: 128, 1>, dtype = bf16} : (tensor<96x256xi4>, tensor<1x256xf32>) -> tensor<96x256xbf16>
    %y = kiln.matmul %h, %wd {transpose_a = false, transpose_b = false} : (tensor<4x96xbf16>, tensor<96x256xbf16>) -> tensor<4x256xbf16>
    return %y : tensor<4x256xbf16>
  }
}
