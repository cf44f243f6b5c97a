// kiln-expand-unfused-composites keeps kiln.moe_gate_up whole where the wgmma
// gate/up kernel takes it (a Hopper target; bf16 or f16; H a multiple of 8;
// weights that are no int4 dequantize's) and expands the others into the
// token gather, two grouped matmuls and SwiGLU. An expanded op's int4 weights
// stay packed for the grouped matmuls that read them.
// RUN: kiln-opt %s --kiln-expand-unfused-composites --split-input-file | FileCheck %s --check-prefixes=CHECK,HOPPER
// RUN: kiln-opt %s --kiln-expand-unfused-composites=wgmma=false --split-input-file | FileCheck %s --check-prefixes=CHECK,MMA
// RUN: kiln-opt %s --kiln-expand-unfused-composites=gate-up-kernel=false --split-input-file | FileCheck %s --check-prefixes=CHECK,MMA

// A decode layer's experts in bf16.
// CHECK-LABEL: func.func @bf16
// HOPPER: kiln.moe_gate_up
// MMA-NOT: kiln.moe_gate_up
// MMA: kiln.gather
// MMA: kiln.grouped_matmul
// MMA: kiln.grouped_matmul
// MMA: kiln.silu
func.func @bf16(%x: tensor<64x1024xbf16>, %wg: tensor<32x512x1024xbf16>, %wu: tensor<32x512x1024xbf16>, %order: tensor<256xi64>, %offsets: tensor<32xi64>) -> tensor<256x512xbf16> {
  %gu:3 = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<64x1024xbf16>, tensor<32x512x1024xbf16>, tensor<32x512x1024xbf16>, tensor<256xi64>, tensor<32xi64>) -> (tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>)
  return %gu#0 : tensor<256x512xbf16>
}

// -----

// f32 has no tensor-core kernel; neither has H = 20 (40-byte rows).
// CHECK-LABEL: func.func @refused
// CHECK-NOT: kiln.moe_gate_up
// CHECK: kiln.grouped_matmul
// CHECK-NOT: kiln.moe_gate_up
func.func @refused(%x: tensor<8x64xf32>, %wg: tensor<4x16x64xf32>, %wu: tensor<4x16x64xf32>, %order: tensor<16xi64>, %offsets: tensor<4xi64>,
                   %y: tensor<8x20xbf16>, %vg: tensor<4x16x20xbf16>, %vu: tensor<4x16x20xbf16>) -> (tensor<16x16xf32>, tensor<16x16xbf16>) {
  %a:3 = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<8x64xf32>, tensor<4x16x64xf32>, tensor<4x16x64xf32>, tensor<16xi64>, tensor<4xi64>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
  %b:3 = kiln.moe_gate_up %y, %vg, %vu, %order, %offsets : (tensor<8x20xbf16>, tensor<4x16x20xbf16>, tensor<4x16x20xbf16>, tensor<16xi64>, tensor<4xi64>) -> (tensor<16x16xbf16>, tensor<16x16xbf16>, tensor<16x16xbf16>)
  return %a#0, %b#0 : tensor<16x16xf32>, tensor<16x16xbf16>
}

// -----

// int4 experts: the op is expanded and each grouped matmul reads its weight's
// dequantize, which stays whole (the int4 GEMM reads the nibbles).
// CHECK-LABEL: func.func @int4
// CHECK-NOT: kiln.moe_gate_up
// CHECK: %[[G:.*]] = kiln.dequantize
// CHECK: %[[U:.*]] = kiln.dequantize
// CHECK: kiln.grouped_matmul %{{.*}}, %[[G]]
// CHECK: kiln.grouped_matmul %{{.*}}, %[[U]]
func.func @int4(%x: tensor<3x256xbf16>, %qg: tensor<4x64x256xi4>, %sg: tensor<4x64x2xf32>, %qu: tensor<4x64x256xi4>, %su: tensor<4x64x2xf32>, %order: tensor<6xi64>, %offsets: tensor<4xi64>) -> tensor<6x64xbf16> {
  %g = kiln.dequantize %qg, %sg {block = array<i64: 1, 1, 128>, dtype = bf16} : (tensor<4x64x256xi4>, tensor<4x64x2xf32>) -> tensor<4x64x256xbf16>
  %u = kiln.dequantize %qu, %su {block = array<i64: 1, 1, 128>, dtype = bf16} : (tensor<4x64x256xi4>, tensor<4x64x2xf32>) -> tensor<4x64x256xbf16>
  %gu:3 = kiln.moe_gate_up %x, %g, %u, %order, %offsets : (tensor<3x256xbf16>, tensor<4x64x256xbf16>, tensor<4x64x256xbf16>, tensor<6xi64>, tensor<4xi64>) -> (tensor<6x64xbf16>, tensor<6x64xbf16>, tensor<6x64xbf16>)
  return %gu#0 : tensor<6x64xbf16>
}
