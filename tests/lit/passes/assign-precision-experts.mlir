// kiln-assign-precision on expert weights (a "rows" grouped_matmul's w): the
// fp8 policy leaves them bf16 (there is no scaled grouped_matmul yet), and an
// assign entry that narrows them to fp8 is an error naming the entry.
// RUN: kiln-opt %s --kiln-assign-precision=policy=fp8 | FileCheck %s
// RUN: kiln-opt %s "--kiln-assign-precision=assign=experts=fp8" --verify-diagnostics

// CHECK-LABEL: func.func @experts
// CHECK-NOT: kiln.precision
// CHECK: return
module attributes {kiln.state = [
    {name = "layers.1.mlp.experts.gate_proj", type = tensor<4x64x256xbf16>, kind = "parameter"}]} {
  func.func @experts(%x: tensor<10x256xbf16> {kiln.name = "x"},
                     %w: tensor<4x64x256xbf16> {kiln.state = "layers.1.mlp.experts.gate_proj"},
                     %offsets: tensor<4xi64> {kiln.name = "offsets"})
      -> (tensor<10x64xbf16> {kiln.name = "y"}) {
    // expected-error @+1 {{kiln-assign-precision: assign entry 'experts=fp8' narrows the expert weights 'layers.1.mlp.experts.gate_proj' to fp8, which has no grouped GEMM yet (expert weights take int4 or bf16)}}
    %y = kiln.grouped_matmul %x, %w, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<10x256xbf16>, tensor<4x64x256xbf16>, tensor<4xi64>) -> tensor<10x64xbf16>
    return %y : tensor<10x64xbf16>
  }
}
