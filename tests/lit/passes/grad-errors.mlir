// kiln.grad needs a float scalar loss and float wrt values.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics

func.func @not_scalar(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+2 {{'kiln.grad' loss must be a float scalar (rank 0), got tensor<2xf32>}}
  // expected-error @+1 {{failed to infer returned types}}
  %g = kiln.grad %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %g : tensor<2xf32>
}

// -----

func.func @int_wrt(%l: tensor<f32>, %i: tensor<2xi64>) -> tensor<2xi64> {
  // expected-error @+2 {{'kiln.grad' can only differentiate with respect to float tensors, got tensor<2xi64>}}
  // expected-error @+1 {{failed to infer returned types}}
  %g = kiln.grad %l, %i : (tensor<f32>, tensor<2xi64>) -> tensor<2xi64>
  return %g : tensor<2xi64>
}
