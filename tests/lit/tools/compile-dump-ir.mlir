// kiln-compile leaves one numbered IR file per pass and writes the Executable.
// RUN: rm -rf %t && mkdir -p %t
// RUN: kiln-compile %s --dump-ir=%t/ir -o %t/out.kx --text --print-stats | FileCheck %s --check-prefix=STATS
// RUN: ls %t/ir | FileCheck %s --check-prefix=FILES
// RUN: FileCheck %s --check-prefix=EXE < %t/out.kx
// RUN: FileCheck %s --check-prefix=CANON < %t/ir/03-canonicalize.mlir

// STATS: entry step: 2 steps
// FILES: 00-input.mlir
// FILES-NEXT: 01-kiln-fuse-moe.mlir
// FILES-NEXT: 02-kiln-grad.mlir
// FILES-NEXT: 03-canonicalize.mlir
// FILES-NEXT: 04-cse.mlir
// FILES-NEXT: 05-kiln-hoist-derived-state.mlir
// FILES-NEXT: 06-symbol-dce.mlir

// EXE: target: "host"
// EXE: state {
// EXE:   name: "w"
// EXE: entries {
// EXE:   name: "step"
// EXE:   results {
// EXE:     aliases_argument: 1
// EXE-NEXT:     state: "w"
// EXE:   steps {
// EXE-NEXT:     op: "matmul"
// EXE:   steps {
// EXE-NEXT:     op: "add"

// The identity transpose folds away in the first pass.
// CANON-NOT: kiln.transpose
module {
  func.func @step(%x: tensor<2x3xf32> {kiln.name = "x"}, %w: tensor<3x3xf32> {kiln.state = "w"})
      -> (tensor<2x3xf32> {kiln.name = "y"}, tensor<3x3xf32> {kiln.state = "w"}) {
    %t = kiln.transpose %x {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %y = kiln.matmul %t, %w {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %w2 = kiln.add %w, %w : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    return %y, %w2 : tensor<2x3xf32>, tensor<3x3xf32>
  }
}
