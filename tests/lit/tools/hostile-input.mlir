// Input that crashes upstream MLIR 19 (deep nesting, array<i1> attributes) is
// refused with a one-line error by kiln-compile and kiln-opt before MLIR reads
// it; a shape whose size wraps int64 is a verifier error, not a heap overflow.
// RUN: python3 -c "print('func.func @f(%%x: ' + 'tuple<' * 20000 + 'f32' + '>' * 20000 + ') { return }')" > %t.deep.mlir
// RUN: not kiln-compile %t.deep.mlir 2>&1 | FileCheck %s --check-prefix=DEEP
// RUN: not kiln-opt %t.deep.mlir 2>&1 | FileCheck %s --check-prefix=DEEP-OPT
// RUN: echo 'func.func @f() attributes {a = array<i1: true, false>} { return }' > %t.bool.mlir
// RUN: not kiln-compile %t.bool.mlir 2>&1 | FileCheck %s --check-prefix=BOOL
// RUN: not kiln-opt %t.bool.mlir 2>&1 | FileCheck %s --check-prefix=BOOL-OPT
// RUN: not kiln-compile %s --print-stats 2>&1 | FileCheck %s --check-prefix=WRAP

// DEEP: kiln-compile: error: {{.*}}deep.mlir:1: brackets nest deeper than 512 levels
// DEEP-OPT: kiln-opt: error: {{.*}}deep.mlir:1: brackets nest deeper than 512 levels
// BOOL: kiln-compile: error: {{.*}}bool.mlir:1: array<i1...> attributes crash MLIR 19
// BOOL-OPT: kiln-opt: error: {{.*}}bool.mlir:1: array<i1...> attributes crash MLIR 19
// WRAP: 'kiln.one_hot' result tensor<4294967296x4294967296xf32> has more elements or bytes than a 64-bit size holds
// WRAP-NOT: peak

func.func @f(%idx: tensor<4294967296xi64>) -> tensor<4294967296x4294967296xf32> {
  %0 = kiln.one_hot %idx {depth = 4294967296 : i64, dtype = f32} : (tensor<4294967296xi64>) -> tensor<4294967296x4294967296xf32>
  return %0 : tensor<4294967296x4294967296xf32>
}
