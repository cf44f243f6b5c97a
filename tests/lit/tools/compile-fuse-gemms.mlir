// kiln-compile fuses the wgmma GEMMs' neighbours on the ptx target by default:
// a SwiGLU MLP's projections with their gated product; --gate-up-kernel also
// runs the experts' gate/up as one launch (token gather and SwiGLU inside;
// off by default: slower than its expansion on an H100); --fuse-gemms=false
// keeps each GEMM, gather and elementwise op its own launch.
// RUN: kiln-compile %s --target=ptx --print-ir -o %t.kx | FileCheck %s --check-prefix=FUSED
// RUN: kiln-compile %s --target=ptx --gate-up-kernel --print-ir -o %t.kx | FileCheck %s --check-prefix=GATEUP
// RUN: kiln-compile %s --target=ptx --fuse-gemms=false --print-ir -o %t.kx | FileCheck %s --check-prefix=SEPARATE

// FUSED-NOT: wgmma_moe_gate_up
// FUSED-COUNT-2: kiln.grouped_matmul
// FUSED: kernel "wgmma_gated_matmul"

// GATEUP: kernel "wgmma_moe_gate_up"
// GATEUP: kernel "wgmma_gated_matmul"
// GATEUP-NOT: kiln.grouped_matmul

// SEPARATE-NOT: wgmma_moe_gate_up
// SEPARATE-NOT: wgmma_gated_matmul
// SEPARATE-COUNT-2: kiln.grouped_matmul
func.func @main(%x: tensor<64x1024xbf16>, %e: tensor<64x4xi64>, %eg: tensor<8x256x1024xbf16>, %eu: tensor<8x256x1024xbf16>,
                %wg: tensor<512x1024xbf16>, %wu: tensor<512x1024xbf16>) -> (tensor<256x256xbf16>, tensor<64x512xbf16>) {
  %order, %slot, %offsets = kiln.moe_plan %e {num_experts = 8 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<8xi64>)
  %act, %gate, %up = kiln.moe_gate_up %x, %eg, %eu, %order, %offsets : (tensor<64x1024xbf16>, tensor<8x256x1024xbf16>, tensor<8x256x1024xbf16>, tensor<256xi64>, tensor<8xi64>) -> (tensor<256x256xbf16>, tensor<256x256xbf16>, tensor<256x256xbf16>)
  %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
  %s = kiln.silu %g : (tensor<64x512xbf16>) -> tensor<64x512xbf16>
  %a = kiln.mul %s, %u : (tensor<64x512xbf16>, tensor<64x512xbf16>) -> tensor<64x512xbf16>
  return %act, %a : tensor<256x256xbf16>, tensor<64x512xbf16>
}
