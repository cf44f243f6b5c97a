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

// -----

func.func @split_elsewhere(%x: tensor<6x37xf32>) -> tensor<6x37xf32> {
  // expected-error @+1 {{kiln.split_k applies to wgmma_matmul, not 'loop_nest'}}
  %0 = kiln.dispatch kernel "loop_nest" {kiln.split_k = 2 : i64} : tensor<6x37xf32> {
    %e = kiln.exp %x : (tensor<6x37xf32>) -> tensor<6x37xf32>
    kiln.yield %e : tensor<6x37xf32>
  }
  return %0 : tensor<6x37xf32>
}

// -----

// A hand-written split of K is kept.
// CHECK-LABEL: func.func @kept_split
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 2 : i64, kiln.tile_n = 64 : i64}
func.func @kept_split(%x: tensor<64x1024xbf16>, %w: tensor<384x1024xbf16>) -> tensor<64x384xbf16> {
  %0 = kiln.dispatch {kiln.split_k = 2 : i64} : tensor<64x384xbf16> {
    %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
    kiln.yield %m : tensor<64x384xbf16>
  }
  return %0 : tensor<64x384xbf16>
}

// -----

func.func @split_f32(%x: tensor<64x1024xf32>, %w: tensor<384x1024xf32>) -> tensor<64x384xf32> {
  // expected-error @+1 {{kiln.split_k applies to wgmma_matmul, not 'simt_matmul'}}
  %0 = kiln.dispatch {kiln.split_k = 2 : i64} : tensor<64x384xf32> {
    %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<384x1024xf32>) -> tensor<64x384xf32>
    kiln.yield %m : tensor<64x384xf32>
  }
  return %0 : tensor<64x384xf32>
}

// -----

func.func @tile_width_elsewhere(%x: tensor<64x1024xf32>, %w: tensor<384x1024xf32>) -> tensor<64x384xf32> {
  // expected-error @+1 {{kiln.tile_n applies to the wgmma kernels, not 'simt_matmul'}}
  %0 = kiln.dispatch {kiln.tile_n = 32 : i64} : tensor<64x384xf32> {
    %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<384x1024xf32>) -> tensor<64x384xf32>
    kiln.yield %m : tensor<64x384xf32>
  }
  return %0 : tensor<64x384xf32>
}

// -----

// A hand-written tile width is kept.
// CHECK-LABEL: func.func @kept_tile_width
// CHECK: kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 32 : i64}
func.func @kept_tile_width(%x: tensor<64x1024xbf16>, %w: tensor<384x1024xbf16>) -> tensor<64x384xbf16> {
  %0 = kiln.dispatch {kiln.tile_n = 32 : i64} : tensor<64x384xbf16> {
    %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
    kiln.yield %m : tensor<64x384xbf16>
  }
  return %0 : tensor<64x384xbf16>
}
