// Bad input to kiln-compile is a one-line error naming the problem.
// RUN: not kiln-compile %t.missing.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: echo "func.func @f( {" > %t.bad.mlir
// RUN: not kiln-compile %t.bad.mlir 2>&1 | FileCheck %s --check-prefix=MALFORMED
// RUN: not kiln-compile %s --target=tpu 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not kiln-compile 2>&1 | FileCheck %s --check-prefix=NOINPUT
// RUN: kiln-compile --help 2>&1 | FileCheck %s --check-prefix=HELP

// MISSING: kiln-compile: error: cannot open '{{.*}}missing.mlir': No such file or directory
// MALFORMED: kiln-compile: error: cannot parse {{.*}}bad.mlir: {{.*}}bad.mlir:1:{{[0-9]+}}: {{.+}}
// TARGET: kiln-compile: error: unknown target 'tpu' (this build supports: host, ptx)
// NOINPUT: kiln-compile: error: expected exactly one input file
// HELP-DAG: --dump-ir
// HELP-DAG: --text
// HELP-DAG: --decompose
// HELP-DAG: --target

func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
