// kiln-decompose{ops=...} expands only the named composites; an unknown name fails.
// RUN: kiln-opt %s '--kiln-decompose=ops=softmax,rms_norm' | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s --check-prefix=ALL
// RUN: not kiln-opt %s '--kiln-decompose=ops=softmx' 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK-LABEL: func.func @mixed
// CHECK-NOT: kiln.softmax
// CHECK-NOT: kiln.rms_norm
// CHECK: kiln.log_softmax
// CHECK: kiln.cross_entropy
// ALL-LABEL: func.func @mixed
// ALL-NOT: kiln.softmax
// ALL-NOT: kiln.rms_norm
// ALL-NOT: kiln.log_softmax
// ALL-NOT: kiln.cross_entropy
// ALL: return
// BAD: 'softmx' is not a composite op
func.func @mixed(%x: tensor<2x8xf32>, %w: tensor<8xf32>, %l: tensor<2xi64>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>) {
  %0 = kiln.softmax %x {axis = 1 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %1 = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %2 = kiln.log_softmax %x {axis = 1 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %3 = kiln.cross_entropy %x, %l : (tensor<2x8xf32>, tensor<2xi64>) -> tensor<2xf32>
  return %0, %1, %2, %3 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xf32>
}
