// rms_norm expands to x * rsqrt(mean(x*x, last axis) + eps) * weight in f32.
// RUN: kiln-opt %s --kiln-decompose | FileCheck %s
// RUN: kiln-opt %s --kiln-decompose | kiln-opt > /dev/null

// CHECK-LABEL: func.func @rms_norm_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xbf16>, %[[W:.*]]: tensor<8xbf16>)
// CHECK-DAG: %[[EPS:.*]] = kiln.constant {value = dense<9.99999997E-7> : tensor<f32>}
// CHECK-DAG: %[[XF:.*]] = kiln.cast %[[X]] {to = f32} : (tensor<2x3x8xbf16>) -> tensor<2x3x8xf32>
// CHECK-DAG: %[[WF:.*]] = kiln.cast %[[W]] {to = f32} : (tensor<8xbf16>) -> tensor<8xf32>
// CHECK: %[[SQ:.*]] = kiln.mul %[[XF]], %[[XF]]
// CHECK: %[[MS:.*]] = kiln.mean %[[SQ]] {axes = array<i64: 2>, keepdims = true} : (tensor<2x3x8xf32>) -> tensor<2x3x1xf32>
// CHECK: %[[A:.*]] = kiln.add %[[MS]], %[[EPS]] : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32>
// CHECK: %[[R:.*]] = kiln.rsqrt %[[A]]
// CHECK: %[[N:.*]] = kiln.mul %[[XF]], %[[R]] : (tensor<2x3x8xf32>, tensor<2x3x1xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[Y:.*]] = kiln.mul %[[N]], %[[WF]] : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK: %[[OUT:.*]] = kiln.cast %[[Y]] {to = bf16}
// CHECK: return %[[OUT]]
// CHECK-NOT: kiln.rms_norm
func.func @rms_norm_bf16(%x: tensor<2x3x8xbf16>, %w: tensor<8xbf16>) -> tensor<2x3x8xbf16> {
  %0 = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<2x3x8xbf16>, tensor<8xbf16>) -> tensor<2x3x8xbf16>
  return %0 : tensor<2x3x8xbf16>
}

// f64 keeps f64 (eps too) and casts nothing.
// CHECK-LABEL: func.func @rms_norm_f64
// CHECK: kiln.constant {value = dense<1.000000e-05> : tensor<f64>}
// CHECK-NOT: kiln.cast
// CHECK: kiln.mean %{{.*}} {axes = array<i64: 0>, keepdims = true} : (tensor<4xf64>) -> tensor<1xf64>
// CHECK-NOT: kiln.cast
// CHECK: return
func.func @rms_norm_f64(%x: tensor<4xf64>, %w: tensor<4xf64>) -> tensor<4xf64> {
  %0 = kiln.rms_norm %x, %w {eps = 1.0e-5 : f64} : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  return %0 : tensor<4xf64>
}
