// A hand-written kernel choice is kept when its provider takes the region,
// and refused with the reason when it does not.
// RUN: kiln-opt %s --kiln-select-kernels --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @kept
// CHECK: kiln.dispatch kernel "loop_nest"
func.func @kept(%x: tensor<6x37xf32>) -> tensor<6x37xf32> {
  %0 = kiln.dispatch kernel "loop_nest" : tensor<6x37xf32> {
    %s = kiln.sort %x {axis = 1 : i64, descending = true} : (tensor<6x37xf32>) -> tensor<6x37xf32>
    kiln.yield %s : tensor<6x37xf32>
  }
  return %0 : tensor<6x37xf32>
}

// -----

func.func @refused(%x: tensor<64xf32>) -> tensor<64xf32> {
  // expected-error @+1 {{kernel provider 'sort' cannot lower this 'kiln.exp' region}}
  %0 = kiln.dispatch kernel "sort" : tensor<64xf32> {
    %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
    kiln.yield %e : tensor<64xf32>
  }
  return %0 : tensor<64xf32>
}

// -----

func.func @unknown(%x: tensor<64xf32>) -> tensor<64xf32> {
  // expected-error @+1 {{unknown kernel provider 'tensor_cores'}}
  %0 = kiln.dispatch kernel "tensor_cores" : tensor<64xf32> {
    %e = kiln.exp %x : (tensor<64xf32>) -> tensor<64xf32>
    kiln.yield %e : tensor<64xf32>
  }
  return %0 : tensor<64xf32>
}
