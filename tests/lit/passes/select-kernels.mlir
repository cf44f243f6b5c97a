// kiln-select-kernels: each region records the first provider of the ptx
// kernel table (codegen/ptx/KernelTable.cpp) that takes its root.
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels --split-input-file | FileCheck %s --check-prefixes=CHECK,HOPPER
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=wgmma=false --split-input-file | FileCheck %s --check-prefixes=CHECK,MMA
// RUN: kiln-opt %s --kiln-form-fusions --kiln-select-kernels=chip=sm_80 --split-input-file | FileCheck %s --check-prefixes=CHECK,MMA
// RUN: kiln-opt %s --kiln-form-fusions "--kiln-select-kernels=providers=matmul=cublas" --split-input-file | FileCheck %s --check-prefixes=CHECK,CUBLAS

// bf16 matmuls with 16-byte rows run on tensor cores: wgmma on Hopper,
// mma.sync elsewhere or with --wgmma=false, cuBLAS when the user opts in.
// CHECK-LABEL: func.func @bf16_matmul
// HOPPER: kiln.dispatch kernel "wgmma_matmul"
// MMA: kiln.dispatch kernel "mma_matmul"
// CUBLAS: kiln.dispatch kernel "cublas_gemm"
func.func @bf16_matmul(%a: tensor<64x64xbf16>, %b: tensor<64x32xbf16>) -> tensor<64x32xbf16> {
  %m = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<64x64xbf16>, tensor<64x32xbf16>) -> tensor<64x32xbf16>
  return %m : tensor<64x32xbf16>
}

// -----

// f32 matmuls run the tiled CUDA-core kernel (cuBLAS when opted in).
// CHECK-LABEL: func.func @f32_matmul
// HOPPER: kiln.dispatch kernel "simt_matmul"
// MMA: kiln.dispatch kernel "simt_matmul"
// CUBLAS: kiln.dispatch kernel "cublas_gemm"
func.func @f32_matmul(%a: tensor<8x16xf32>, %b: tensor<16x4xf32>) -> tensor<8x4xf32> {
  %m = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  return %m : tensor<8x4xf32>
}

// -----

// The expert-weight gradient (grouped contract) has a wgmma kernel only;
// without it, a loop nest. cuBLAS is a matmul provider only.
// CHECK-LABEL: func.func @grouped
// HOPPER: kiln.dispatch kernel "wgmma_matmul"
// HOPPER: kiln.dispatch kernel "wgmma_matmul"
// MMA: kiln.dispatch kernel "mma_matmul"
// MMA: kiln.dispatch kernel "loop_nest"
// CUBLAS: kiln.dispatch kernel "wgmma_matmul"
// CUBLAS: kiln.dispatch kernel "wgmma_matmul"
func.func @grouped(%x: tensor<96x64xbf16>, %w: tensor<4x64x72xbf16>, %dy: tensor<96x72xbf16>, %o: tensor<4xi64>) -> (tensor<96x72xbf16>, tensor<4x64x72xbf16>) {
  %y = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<96x64xbf16>, tensor<4x64x72xbf16>, tensor<4xi64>) -> tensor<96x72xbf16>
  %dw = kiln.grouped_matmul %x, %dy, %o {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<96x64xbf16>, tensor<96x72xbf16>, tensor<4xi64>) -> tensor<4x64x72xbf16>
  return %y, %dw : tensor<96x72xbf16>, tensor<4x64x72xbf16>
}

// -----

// The ops that are not loop nests take their gpu-dialect kernels.
// CHECK-LABEL: func.func @direct
// CHECK: kiln.dispatch kernel "sort"
// CHECK-NEXT: kiln.sort
// CHECK: kiln.dispatch kernel "sort"
// CHECK-NEXT: kiln.argsort
// CHECK: kiln.dispatch kernel "sort"
// CHECK-NEXT: kiln.topk
// CHECK: kiln.dispatch kernel "scan"
// CHECK-NEXT: kiln.cumsum
// CHECK: kiln.dispatch kernel "bincount"
// CHECK-NEXT: kiln.bincount
// CHECK: kiln.dispatch kernel "attention"
// CHECK-NEXT: kiln.attention
func.func @direct(%x: tensor<6x37xf32>, %ids: tensor<40xi64>, %q: tensor<2x4x5x8xf32>, %k: tensor<2x2x7x8xf32>, %v: tensor<2x2x7x6xf32>) -> (tensor<6x37xf32>, tensor<6x37xi64>, tensor<6x3xf32>, tensor<6x3xi64>, tensor<6x37xf32>, tensor<8xi64>, tensor<2x4x5x6xf32>) {
  %s = kiln.sort %x {axis = 1 : i64, descending = true} : (tensor<6x37xf32>) -> tensor<6x37xf32>
  %a = kiln.argsort %x {axis = 1 : i64, descending = false} : (tensor<6x37xf32>) -> tensor<6x37xi64>
  %tv, %ti = kiln.topk %x {k = 3 : i64} : (tensor<6x37xf32>) -> (tensor<6x3xf32>, tensor<6x3xi64>)
  %c = kiln.cumsum %x {axis = 1 : i64, exclusive = false, reverse = false} : (tensor<6x37xf32>) -> tensor<6x37xf32>
  %b = kiln.bincount %ids {length = 8 : i64} : (tensor<40xi64>) -> tensor<8xi64>
  %at = kiln.attention %q, %k, %v {scale = 0.35 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x5x8xf32>, tensor<2x2x7x8xf32>, tensor<2x2x7x6xf32>) -> tensor<2x4x5x6xf32>
  return %s, %a, %tv, %ti, %c, %b, %at : tensor<6x37xf32>, tensor<6x37xi64>, tensor<6x3xf32>, tensor<6x3xi64>, tensor<6x37xf32>, tensor<8xi64>, tensor<2x4x5x6xf32>
}

// -----

// An f32 matmul reading a fused widening cast (a router's input) is the
// CUDA-core kernel's, which converts as it loads.
// CHECK-LABEL: func.func @cast_into_simt_matmul
// CHECK: kiln.dispatch kernel "simt_matmul"
// CHECK-NEXT: kiln.cast
// CHECK-NEXT: kiln.matmul
func.func @cast_into_simt_matmul(%x: tensor<64x1024xbf16>, %w: tensor<32x1024xf32>) -> tensor<64x32xf32> {
  %c = kiln.cast %x {to = f32} : (tensor<64x1024xbf16>) -> tensor<64x1024xf32>
  %m = kiln.matmul %c, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<32x1024xf32>) -> tensor<64x32xf32>
  return %m : tensor<64x32xf32>
}

// -----

// A decode attention (one query a head, one kv head) takes the kernel that
// reads each cache row once for a block's heads, through its fused key
// concat; with two kv heads it is the general kernel's.
// CHECK-LABEL: func.func @decode_attention
// CHECK: kiln.dispatch kernel "decode_attention"
// CHECK-NEXT: kiln.concat
// CHECK-NEXT: kiln.reshape
// CHECK-NEXT: kiln.attention
// CHECK: kiln.dispatch kernel "attention"
// CHECK-NEXT: kiln.attention
func.func @decode_attention(%lat: tensor<2x9x8xbf16>, %rope: tensor<2x9x4xbf16>, %q: tensor<2x4x1x12xbf16>,
                            %k2: tensor<2x2x9x12xbf16>, %v2: tensor<2x2x9x8xbf16>) -> (tensor<2x4x1x8xbf16>, tensor<2x4x1x8xbf16>) {
  %j = kiln.concat %lat, %rope {axis = 2 : i64} : (tensor<2x9x8xbf16>, tensor<2x9x4xbf16>) -> tensor<2x9x12xbf16>
  %k = kiln.reshape %j {shape = array<i64: 2, 1, 9, 12>} : (tensor<2x9x12xbf16>) -> tensor<2x1x9x12xbf16>
  %v = kiln.reshape %lat {shape = array<i64: 2, 1, 9, 8>} : (tensor<2x9x8xbf16>) -> tensor<2x1x9x8xbf16>
  %a = kiln.attention %q, %k, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x1x12xbf16>, tensor<2x1x9x12xbf16>, tensor<2x1x9x8xbf16>) -> tensor<2x4x1x8xbf16>
  %b = kiln.attention %q, %k2, %v2 {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x1x12xbf16>, tensor<2x2x9x12xbf16>, tensor<2x2x9x8xbf16>) -> tensor<2x4x1x8xbf16>
  return %a, %b : tensor<2x4x1x8xbf16>, tensor<2x4x1x8xbf16>
}

// -----

// Elementwise regions, fused or not, and empty tensors are loop nests.
// CHECK-LABEL: func.func @loop_nests
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.exp
// CHECK-NEXT: kiln.neg
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.sort
func.func @loop_nests(%x: tensor<64xf32>, %e: tensor<0x4xf32>) -> (tensor<64xf32>, tensor<0x4xf32>) {
  %a = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
  %b = kiln.neg %a : (tensor<64xf32>) -> tensor<64xf32>
  %s = kiln.sort %e {axis = 1 : i64, descending = true} : (tensor<0x4xf32>) -> tensor<0x4xf32>
  return %b, %s : tensor<64xf32>, tensor<0x4xf32>
}

// -----

// scatter_add takes the atomic kernel where the element type has hardware
// atomic adds and the exact gather-style loop nest where it does not (fp8,
// i8); sampling takes the per-row categorical kernel.
// CHECK-LABEL: func.func @scatter_and_sample
// CHECK: kiln.dispatch kernel "scatter_add"
// CHECK-NEXT: kiln.scatter_add {{.*}} -> tensor<6x8xf32>
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.scatter_add {{.*}} -> tensor<6x8xi8>
// CHECK: kiln.dispatch kernel "categorical"
// CHECK-NEXT: kiln.random_categorical
func.func @scatter_and_sample(%z: tensor<6x8xf32>, %zi: tensor<6x8xi8>, %idx: tensor<5xi64>, %u: tensor<6x5xf32>, %ui: tensor<6x5xi8>, %key: tensor<i64>, %logits: tensor<6x40xf32>) -> (tensor<6x8xf32>, tensor<6x8xi8>, tensor<6xi64>) {
  %a = kiln.scatter_add %z, %idx, %u {axis = 1 : i64} : (tensor<6x8xf32>, tensor<5xi64>, tensor<6x5xf32>) -> tensor<6x8xf32>
  %b = kiln.scatter_add %zi, %idx, %ui {axis = 1 : i64} : (tensor<6x8xi8>, tensor<5xi64>, tensor<6x5xi8>) -> tensor<6x8xi8>
  %c = kiln.random_categorical %key, %logits : (tensor<i64>, tensor<6x40xf32>) -> tensor<6xi64>
  return %a, %b, %c : tensor<6x8xf32>, tensor<6x8xi8>, tensor<6xi64>
}

// -----

// argmax takes the warp- or block-per-row kernel in f32, bf16 and f16, along
// any axis (greedy decoding's [64, 32000] logits included); f64 keeps the
// loop nest.
// CHECK-LABEL: func.func @argmax
// CHECK: kiln.dispatch kernel "argmax"
// CHECK-NEXT: kiln.argmax {{.*}}tensor<64x32000xf32>
// CHECK: kiln.dispatch kernel "argmax"
// CHECK-NEXT: kiln.argmax {{.*}}tensor<4x8x3xbf16>
// CHECK: kiln.dispatch kernel "loop_nest"
// CHECK-NEXT: kiln.argmax {{.*}}tensor<4x8xf64>
func.func @argmax(%l: tensor<64x32000xf32>, %b: tensor<4x8x3xbf16>, %d: tensor<4x8xf64>) -> (tensor<64xi64>, tensor<4x1x3xi64>, tensor<4xi64>) {
  %0 = kiln.argmax %l {axis = -1 : i64, keepdims = false} : (tensor<64x32000xf32>) -> tensor<64xi64>
  %1 = kiln.argmax %b {axis = 1 : i64, keepdims = true} : (tensor<4x8x3xbf16>) -> tensor<4x1x3xi64>
  %2 = kiln.argmax %d {axis = 1 : i64, keepdims = false} : (tensor<4x8xf64>) -> tensor<4xi64>
  return %0, %1, %2 : tensor<64xi64>, tensor<4x1x3xi64>, tensor<4xi64>
}

// -----

// DeepSeek-V3's routing runs its thread-per-token kernel.
// CHECK-LABEL: func.func @moe_route
// CHECK: kiln.dispatch kernel "moe_route"
// CHECK-NEXT: kiln.moe_route
func.func @moe_route(%s: tensor<64x32xf32>, %b: tensor<32xf32>) -> (tensor<64x4xi64>, tensor<64x4xf32>) {
  %r:2 = kiln.moe_route %s, %b {num_groups = 4 : i64, topk_group = 2 : i64, top_k = 4 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<64x32xf32>, tensor<32xf32>) -> (tensor<64x4xi64>, tensor<64x4xf32>)
  return %r#0, %r#1 : tensor<64x4xi64>, tensor<64x4xf32>
}

// -----

// The MoE combine runs its direct kernel (fixed order, no atomics).
// CHECK-LABEL: func.func @moe_combine
// CHECK: kiln.dispatch kernel "moe_combine"
// CHECK-NEXT: kiln.moe_combine
func.func @moe_combine(%rows: tensor<6x8xbf16>, %order: tensor<6xi64>, %slot: tensor<3x2xi64>) -> tensor<3x8xbf16> {
  %y = kiln.moe_combine %rows, %order, %slot : (tensor<6x8xbf16>, tensor<6xi64>, tensor<3x2xi64>) -> tensor<3x8xbf16>
  return %y : tensor<3x8xbf16>
}

// -----

// The experts' gate and up projections take one wgmma launch on Hopper (the
// token gather in the A load, SwiGLU in the epilogue); elsewhere
// kiln-expand-unfused-composites has expanded the op before this pass.
// CHECK-LABEL: func.func @moe_gate_up
// HOPPER: kiln.dispatch kernel "wgmma_moe_gate_up"
// HOPPER-NEXT: kiln.moe_gate_up
func.func @moe_gate_up(%x: tensor<64x1024xbf16>, %wg: tensor<32x512x1024xbf16>, %wu: tensor<32x512x1024xbf16>, %order: tensor<256xi64>, %offsets: tensor<32xi64>) -> (tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>) {
  %gu:3 = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<64x1024xbf16>, tensor<32x512x1024xbf16>, tensor<32x512x1024xbf16>, tensor<256xi64>, tensor<32xi64>) -> (tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>)
  return %gu#0, %gu#1, %gu#2 : tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>
}
