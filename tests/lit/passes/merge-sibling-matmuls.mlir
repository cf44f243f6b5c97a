// kiln-merge-sibling-matmuls: GEMMs of one activation by several weights that
// the function does not write become one GEMM over the weights concatenated
// along N, each result a slice of it (MLA's q_a and kv_a projections). Near
// misses stay: another A, a weight the function writes (a train step), an
// input rather than a parameter, another transpose_b, a SwiGLU MLP's
// projections (the gated kernel takes those). With kiln-hoist-derived-state
// after it, the concatenation becomes derived state computed once.
// RUN: kiln-opt %s --kiln-merge-sibling-matmuls | FileCheck %s
// RUN: kiln-opt %s --kiln-merge-sibling-matmuls --kiln-hoist-derived-state | FileCheck %s --check-prefix=HOIST

// HOIST: name = "derived.q_a.weight.0", sources = ["q_a.weight", "kv_a.weight", "other.weight"], type = tensor<736x1024xbf16>
// HOIST-LABEL: func.func @decode
// HOIST-NOT: kiln.concat
// HOIST: return

module attributes {kiln.state = [
    {name = "q_a.weight", type = tensor<384x1024xbf16>, kind = "parameter"},
    {name = "kv_a.weight", type = tensor<288x1024xbf16>, kind = "parameter"},
    {name = "other.weight", type = tensor<64x1024xbf16>, kind = "parameter"},
    {name = "kn.weight", type = tensor<1024x64xbf16>, kind = "parameter"},
    {name = "gate.weight", type = tensor<512x1024xbf16>, kind = "parameter"},
    {name = "up.weight", type = tensor<512x1024xbf16>, kind = "parameter"}]} {

  // CHECK-LABEL: func.func @decode
  // CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<64x1x1024xbf16>
  // CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<384x1024xbf16>
  // CHECK-SAME: %[[KV:[a-z0-9]+]]: tensor<288x1024xbf16>
  // CHECK-SAME: %[[O:[a-z0-9]+]]: tensor<64x1024xbf16>
  // CHECK: %[[W:.*]] = kiln.concat %[[Q]], %[[KV]], %[[O]] {axis = 0 : i64} : (tensor<384x1024xbf16>, tensor<288x1024xbf16>, tensor<64x1024xbf16>) -> tensor<736x1024xbf16>
  // CHECK: %[[M:.*]] = kiln.matmul %[[X]], %[[W]] {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<736x1024xbf16>) -> tensor<64x1x736xbf16>
  // CHECK: kiln.slice %[[M]] {limit = array<i64: 64, 1, 384>, start = array<i64: 0, 0, 0>, stride = array<i64: 1, 1, 1>}
  // CHECK: kiln.slice %[[M]] {limit = array<i64: 64, 1, 672>, start = array<i64: 0, 0, 384>, stride = array<i64: 1, 1, 1>}
  // CHECK: kiln.slice %[[M]] {limit = array<i64: 64, 1, 736>, start = array<i64: 0, 0, 672>, stride = array<i64: 1, 1, 1>}
  // The other A, the [K, N] weight, the input weight and the gated pair:
  // CHECK-COUNT-5: kiln.matmul
  // CHECK-NOT: kiln.matmul
  // CHECK: return
  func.func @decode(%x: tensor<64x1x1024xbf16> {kiln.name = "x"},
                    %wq: tensor<384x1024xbf16> {kiln.state = "q_a.weight"},
                    %wkv: tensor<288x1024xbf16> {kiln.state = "kv_a.weight"},
                    %wo: tensor<64x1024xbf16> {kiln.state = "other.weight"},
                    %wkn: tensor<1024x64xbf16> {kiln.state = "kn.weight"},
                    %win: tensor<64x1024xbf16> {kiln.name = "w_input"},
                    %wg: tensor<512x1024xbf16> {kiln.state = "gate.weight"},
                    %wu: tensor<512x1024xbf16> {kiln.state = "up.weight"},
                    %y: tensor<64x1x1024xbf16> {kiln.name = "y"})
      -> (tensor<64x1x384xbf16>, tensor<64x1x288xbf16>, tensor<64x1x64xbf16>,
          tensor<64x1x64xbf16>, tensor<64x1x64xbf16>, tensor<64x1x64xbf16>,
          tensor<64x1x512xbf16>) {
    %q = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x1x384xbf16>
    %kv = kiln.matmul %x, %wkv {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<288x1024xbf16>) -> tensor<64x1x288xbf16>
    %o = kiln.matmul %x, %wo {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<64x1024xbf16>) -> tensor<64x1x64xbf16>
    %other = kiln.matmul %y, %wo {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<64x1024xbf16>) -> tensor<64x1x64xbf16>
    %kn = kiln.matmul %x, %wkn {transpose_a = false, transpose_b = false} : (tensor<64x1x1024xbf16>, tensor<1024x64xbf16>) -> tensor<64x1x64xbf16>
    %in = kiln.matmul %x, %win {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<64x1024xbf16>) -> tensor<64x1x64xbf16>
    %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
    %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
    %s = kiln.silu %g : (tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
    %h = kiln.mul %s, %u : (tensor<64x1x512xbf16>, tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
    return %q, %kv, %o, %other, %kn, %in, %h : tensor<64x1x384xbf16>, tensor<64x1x288xbf16>, tensor<64x1x64xbf16>, tensor<64x1x64xbf16>, tensor<64x1x64xbf16>, tensor<64x1x64xbf16>, tensor<64x1x512xbf16>
  }

  // A train step writes q_a: its GEMMs stay apart.
  // CHECK-LABEL: func.func @train
  // CHECK-NOT: kiln.concat
  // CHECK-COUNT-2: kiln.matmul
  func.func @train(%x: tensor<64x1024xbf16> {kiln.name = "x"},
                   %wq: tensor<384x1024xbf16> {kiln.state = "q_a.weight"},
                   %wkv: tensor<288x1024xbf16> {kiln.state = "kv_a.weight"})
      -> (tensor<64x384xbf16>, tensor<64x288xbf16>,
          tensor<384x1024xbf16> {kiln.state = "q_a.weight"}) {
    %q = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
    %kv = kiln.matmul %x, %wkv {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<288x1024xbf16>) -> tensor<64x288xbf16>
    %w2 = kiln.add %wq, %wq : (tensor<384x1024xbf16>, tensor<384x1024xbf16>) -> tensor<384x1024xbf16>
    return %q, %kv, %w2 : tensor<64x384xbf16>, tensor<64x288xbf16>, tensor<384x1024xbf16>
  }
}
