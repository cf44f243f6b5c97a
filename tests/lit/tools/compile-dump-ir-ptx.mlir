// On the ptx target --dump-ir also shows the decisions: after
// kiln-form-fusions every kernel is a kiln.dispatch region, after
// kiln-select-kernels each names its provider, and each region k<N>_<op>
// leaves its lowering stages and its PTX beside them.
// RUN: rm -rf %t && mkdir -p %t
// RUN: kiln-compile %s --target=ptx --dump-ir=%t/ir -o %t/out.kx
// RUN: ls %t/ir | FileCheck %s --check-prefix=FILES
// RUN: FileCheck %s --check-prefix=REGIONS < %t/ir/16-kiln-select-kernels.mlir
// RUN: FileCheck %s --check-prefix=PTX < %t/ir/k0_matmul_module.ptx

// FILES: 00-input.mlir
// FILES: 01-kiln-fuse-moe.mlir
// FILES: 08-kiln-merge-sibling-matmuls.mlir
// FILES-NEXT: 09-kiln-hoist-derived-state.mlir
// FILES-NEXT: 10-symbol-dce.mlir
// FILES-NEXT: 11-kiln-update-in-place.mlir
// FILES-NEXT: 12-kiln-expand-collectives.mlir
// FILES-NEXT: 13-canonicalize.mlir
// FILES-NEXT: 14-kiln-expand-unfused-composites.mlir
// FILES-NEXT: 15-kiln-form-fusions.mlir
// FILES-NEXT: 16-kiln-select-kernels.mlir
// FILES-NEXT: k0_matmul.0-linalg.mlir
// FILES-NEXT: k0_matmul.1-gpu.mlir
// FILES-NEXT: k0_matmul.2-binary.mlir
// FILES-NEXT: k0_matmul_module.ptx
// FILES-NEXT: k1_exp.0-linalg.mlir

// The transpose folds away; the matmul takes the tiled CUDA-core kernel and
// the scale fuses into the exp that reads it.
// REGIONS: kiln.dispatch kernel "simt_matmul" : tensor<2x3xf32> {
// REGIONS-NEXT: kiln.matmul
// REGIONS: kiln.dispatch kernel "loop_nest" : tensor<3x3xf32> {
// REGIONS-NEXT: kiln.mul
// REGIONS-NEXT: kiln.exp
// REGIONS-NEXT: kiln.yield

// PTX: .target sm_90
// PTX: .visible .entry k0_matmul_simt_matmul0(

module {
  func.func @step(%x: tensor<2x3xf32> {kiln.name = "x"}, %w: tensor<3x3xf32> {kiln.state = "w"})
      -> (tensor<2x3xf32> {kiln.name = "y"}, tensor<3x3xf32> {kiln.state = "w"}) {
    %t = kiln.transpose %x {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %y = kiln.matmul %t, %w {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %s = kiln.mul %w, %w : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %w2 = kiln.exp %s : (tensor<3x3xf32>) -> tensor<3x3xf32>
    return %y, %w2 : tensor<2x3xf32>, tensor<3x3xf32>
  }
}
