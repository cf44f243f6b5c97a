// kiln-compile --precision=WEIGHT=TYPE,...: the explicit mix (what
// kiln-serve --precision=auto prints) compiles, and the report lists the
// fp8 GEMM's operands and the int4 weight (dequantized in front of its
// matmul) with the bytes each saves; a bad entry is an error naming it, and
// auto, which needs a model and data, says where it runs.
// RUN: kiln-compile %s "--precision=up_proj=fp8,down_proj.weight=int4" --precision-report -o %t.kx | FileCheck %s
// RUN: not kiln-compile %s "--precision=up_proj=fp4" -o %t.kx 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not kiln-compile %s --precision=auto -o %t.kx 2>&1 | FileCheck %s --check-prefix=AUTO

// CHECK: precision policy up_proj=fp8,down_proj.weight=int4
// CHECK: gemm 1 of model.layers.0.mlp.up_proj.weight: operand [2, 8] f32 -> f8E4M3FN, blocks 1x128
// CHECK-NEXT: gemm 1 of model.layers.0.mlp.up_proj.weight: weight model.layers.0.mlp.up_proj.weight [16, 8] f32 -> f8E4M3FN, blocks 128x128, 512 -> 132 bytes
// CHECK-NEXT: gemm 2 of model.layers.0.mlp.down_proj.weight: weight model.layers.0.mlp.down_proj.weight [8, 16] f32 -> i4 (dequantized in front of the matmul), blocks 1x128, 512 -> 96 bytes
// CHECK-NEXT: 2 quantized GEMMs
// BAD: assign entry 'up_proj=fp4' is not WEIGHT=bf16|fp8|fp8-delayed|int4
// AUTO: policy 'auto' needs the model's weights and calibration data: kiln-serve --precision=auto measures them
module attributes {kiln.state = [
    {name = "model.layers.0.mlp.up_proj.weight", type = tensor<16x8xf32>, kind = "parameter"},
    {name = "model.layers.0.mlp.down_proj.weight", type = tensor<8x16xf32>, kind = "parameter"}]} {
  func.func @forward(%x: tensor<2x8xf32> {kiln.name = "x"},
                     %u0: tensor<16x8xf32> {kiln.state = "model.layers.0.mlp.up_proj.weight"},
                     %d0: tensor<8x16xf32> {kiln.state = "model.layers.0.mlp.down_proj.weight"})
      -> (tensor<2x8xf32> {kiln.name = "y"}) {
    %h = kiln.matmul %x, %u0 {transpose_a = false, transpose_b = true} : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
    %o = kiln.matmul %h, %d0 {transpose_a = false, transpose_b = true} : (tensor<2x16xf32>, tensor<8x16xf32>) -> tensor<2x8xf32>
    return %o : tensor<2x8xf32>
  }
}
