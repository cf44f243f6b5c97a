// kiln-compile --zero=1 with --data-parallel=2 runs kiln-shard-optimizer-state
// after the backward (--dump-ir shows it) and writes the moment as this
// rank's block: 9 elements over 2 ranks keep 5, of kind optimizer_shard.
// Bad combinations name the flags.
// RUN: rm -rf %t && mkdir -p %t
// RUN: kiln-compile %s --data-parallel=2 --zero=1 --dump-ir=%t/ir -o %t/out.kx --text
// RUN: ls %t/ir | FileCheck %s --check-prefix=FILES
// RUN: FileCheck %s --check-prefix=EXE < %t/out.kx
// RUN: not kiln-compile %s --zero=1 -o %t/bad.kx 2>&1 | FileCheck %s --check-prefix=NODP
// RUN: not kiln-compile %s --data-parallel=2 --zero=2 -o %t/bad.kx 2>&1 | FileCheck %s --check-prefix=STAGE
// RUN: not kiln-compile %s --data-parallel=2 --zero=1 --target=ptx -o %t/bad.kx 2>&1 | FileCheck %s --check-prefix=PTX

// FILES: kiln-data-parallel.mlir
// FILES: kiln-grad.mlir
// FILES: kiln-shard-optimizer-state.mlir
// FILES: kiln-bucket-gradients.mlir

// EXE: state {
// EXE:   name: "w.m"
// EXE-NEXT: type {
// EXE-NEXT: dtype: F32
// EXE-NEXT: shape: 5
// EXE-NEXT: }
// EXE-NEXT: kind: "optimizer_shard"

// NODP: kiln-compile: error: --zero=1 shards the optimizer state over data-parallel ranks: it needs --data-parallel=N with N > 1, got --data-parallel=1
// STAGE: kiln-compile: error: --zero must be 0 or 1 (ZeRO stage 1 shards the optimizer state), got 2
// PTX: kiln-compile: error: --zero=1 is built for the host target (CPU ranks under MPI), not --target=ptx

module attributes {kiln.state = [
    {name = "w", type = tensor<3x3xf32>, kind = "parameter", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64},
    {name = "w.m", type = tensor<3x3xf32>, kind = "optimizer", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64}]} {
  func.func @step(%x: tensor<4x3xf32> {kiln.name = "x"},
                  %w: tensor<3x3xf32> {kiln.state = "w"},
                  %wm: tensor<3x3xf32> {kiln.state = "w.m"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<3x3xf32> {kiln.state = "w"},
          tensor<3x3xf32> {kiln.state = "w.m"}) {
    %h = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
    %l = kiln.mean %h {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x3xf32>) -> tensor<f32>
    %g = kiln.grad %l, %w : (tensor<f32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %beta = kiln.constant {value = dense<0.9> : tensor<f32>} : () -> tensor<f32>
    %wm1 = kiln.mul %wm, %beta : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
    %wm2 = kiln.add %wm1, %g : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %w2 = kiln.sub %w, %wm2 : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    return %l, %w2, %wm2 : tensor<f32>, tensor<3x3xf32>, tensor<3x3xf32>
  }
}
