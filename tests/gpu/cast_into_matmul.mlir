// Widening casts that kiln-form-fusions fuses into the CUDA-core matmul that
// reads them (SimtMatmul.cpp reads the narrow source and converts as it
// loads): a decode router's bf16 hidden state into f32 (a warp per output),
// both operands of a tiled f32 matmul (bf16 and f16), and f32 into f64.
func.func @main(%h: tensor<64x1x1024xbf16> {kiln.name = "h"}, %gate: tensor<32x1024xf32> {kiln.name = "gate"},
                %a: tensor<70x33xbf16> {kiln.name = "a"}, %b: tensor<33x65xf16> {kiln.name = "b"},
                %d: tensor<20x300xf32> {kiln.name = "d"}, %e: tensor<300x17xf64> {kiln.name = "e"})
    -> (tensor<64x1x32xf32> {kiln.name = "router"}, tensor<70x65xf32> {kiln.name = "tiled_both"},
        tensor<20x17xf64> {kiln.name = "f32_to_f64"}) {
  %hf = kiln.cast %h {to = f32} : (tensor<64x1x1024xbf16>) -> tensor<64x1x1024xf32>
  %r = kiln.matmul %hf, %gate {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xf32>, tensor<32x1024xf32>) -> tensor<64x1x32xf32>
  %af = kiln.cast %a {to = f32} : (tensor<70x33xbf16>) -> tensor<70x33xf32>
  %bf = kiln.cast %b {to = f32} : (tensor<33x65xf16>) -> tensor<33x65xf32>
  %t = kiln.matmul %af, %bf {transpose_a = false, transpose_b = false} : (tensor<70x33xf32>, tensor<33x65xf32>) -> tensor<70x65xf32>
  %dd = kiln.cast %d {to = f64} : (tensor<20x300xf32>) -> tensor<20x300xf64>
  %f = kiln.matmul %dd, %e {transpose_a = false, transpose_b = false} : (tensor<20x300xf64>, tensor<300x17xf64>) -> tensor<20x17xf64>
  return %r, %t, %f : tensor<64x1x32xf32>, tensor<70x65xf32>, tensor<20x17xf64>
}
