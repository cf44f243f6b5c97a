// kiln-compile --precision=int4 --target=ptx: the weight and the experts'
// weights are quantized to packed int4 once, in kiln.derive_state (derived
// state of type i4 and its f32 scales: half a byte a weight instead of two),
// and the entry dequantizes each inside the GEMM that reads it: every GEMM's
// region holds its weight's dequantize and takes mma_int4_matmul, whose PTX
// copies the nibbles with cp.async and converts them in registers. The
// router's weight (mlp.gate) keeps its type.
// RUN: rm -rf %t && mkdir -p %t
// RUN: kiln-compile %s --target=ptx --precision=int4 --dump-ir=%t/ir -o %t/out.kx
// RUN: FileCheck %s --check-prefix=STATE < %t/ir/11-kiln-hoist-derived-state.mlir
// RUN: FileCheck %s --check-prefix=REGIONS < %t/ir/21-kiln-select-kernels.mlir
// RUN: cat %t/ir/k1_grouped_matmul_module.ptx | FileCheck %s --check-prefix=PTX

// STATE: name = "derived.model.layers.1.mlp.experts.gate_proj.0", sources = ["model.layers.1.mlp.experts.gate_proj"], type = tensor<4x64x256xi4>
// STATE: name = "derived.model.layers.1.mlp.experts.gate_proj.1", sources = ["model.layers.1.mlp.experts.gate_proj"], type = tensor<4x64x2xf32>
// STATE: name = "derived.model.layers.1.mlp.shared_experts.up_proj.weight.0", sources = ["model.layers.1.mlp.shared_experts.up_proj.weight"], type = tensor<64x256xi4>
// STATE-LABEL: func.func @decode
// STATE-NOT: kiln.quantize
// STATE: kiln.dequantize
// STATE: kiln.dequantize

// REGIONS-LABEL: func.func @decode
// REGIONS: kiln.dispatch kernel "wgmma_matmul"
// REGIONS: kiln.dispatch kernel "mma_int4_matmul" : tensor<10x64xbf16> {
// REGIONS-NEXT: kiln.dequantize
// REGIONS-NEXT: kiln.grouped_matmul
// REGIONS: kiln.dispatch kernel "mma_int4_matmul" : tensor<10x64xbf16> {
// REGIONS-NEXT: kiln.dequantize
// REGIONS-NEXT: kiln.matmul

// PTX: cp.async.cg.shared.global {{.*}}, 16
// PTX: cp.async.ca.shared.global {{.*}}, 4
// PTX: ld.shared.v4.u32
// PTX: cvt.rn.f32.s16
// PTX: cvt.rn.bf16.f32
// PTX: st.shared.v4.b32
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
module attributes {kiln.state = [
    {name = "model.layers.1.mlp.gate.weight", type = tensor<4x256xbf16>, kind = "parameter"},
    {name = "model.layers.1.mlp.experts.gate_proj", type = tensor<4x64x256xbf16>, kind = "parameter"},
    {name = "model.layers.1.mlp.shared_experts.up_proj.weight", type = tensor<64x256xbf16>, kind = "parameter"}]} {
  func.func @decode(%x: tensor<10x256xbf16> {kiln.name = "x"},
                    %offsets: tensor<4xi64> {kiln.name = "offsets"},
                    %router: tensor<4x256xbf16> {kiln.state = "model.layers.1.mlp.gate.weight"},
                    %experts: tensor<4x64x256xbf16> {kiln.state = "model.layers.1.mlp.experts.gate_proj"},
                    %shared: tensor<64x256xbf16> {kiln.state = "model.layers.1.mlp.shared_experts.up_proj.weight"})
      -> (tensor<10x4xbf16> {kiln.name = "scores"}, tensor<10x64xbf16> {kiln.name = "routed"},
          tensor<10x64xbf16> {kiln.name = "shared"}) {
    %s = kiln.matmul %x, %router {transpose_a = false, transpose_b = true} : (tensor<10x256xbf16>, tensor<4x256xbf16>) -> tensor<10x4xbf16>
    %r = kiln.grouped_matmul %x, %experts, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<10x256xbf16>, tensor<4x64x256xbf16>, tensor<4xi64>) -> tensor<10x64xbf16>
    %h = kiln.matmul %x, %shared {transpose_a = false, transpose_b = true} : (tensor<10x256xbf16>, tensor<64x256xbf16>) -> tensor<10x64xbf16>
    return %s, %r, %h : tensor<10x4xbf16>, tensor<10x64xbf16>, tensor<10x64xbf16>
  }
}
