// kiln-merge-sibling-matmuls on the ptx target: MLA's q_a and kv_a
// projections of one normed hidden state run as one GEMM over their
// weights' concatenation (derived state, computed once by
// kiln.derive_state), each result a slice of its output read by the kernels
// after it: q_a's RMSNorm reads its slice, kv_a's result is returned as is.
// The host target keeps two GEMMs; kiln-run compares the two.
module attributes {kiln.state = [
    {name = "q_a", type = tensor<384x1024xbf16>, kind = "parameter", init = "normal", a = 0.03, seed = 3},
    {name = "kv_a", type = tensor<288x1024xbf16>, kind = "parameter", init = "normal", a = 0.03, seed = 4}]} {
  func.func @decode(%x: tensor<64x1x1024xbf16> {kiln.name = "x"},
                    %wq: tensor<384x1024xbf16> {kiln.state = "q_a"},
                    %wkv: tensor<288x1024xbf16> {kiln.state = "kv_a"})
      -> (tensor<64x1x384xbf16> {kiln.name = "q_normed"},
          tensor<64x1x288xbf16> {kiln.name = "kv"}) {
    %q = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x1x384xbf16>
    %kv = kiln.matmul %x, %wkv {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<288x1024xbf16>) -> tensor<64x1x288xbf16>
    %qf = kiln.cast %q {to = f32} : (tensor<64x1x384xbf16>) -> tensor<64x1x384xf32>
    %sq = kiln.mul %qf, %qf : (tensor<64x1x384xf32>, tensor<64x1x384xf32>) -> tensor<64x1x384xf32>
    %ms = kiln.mean %sq {axes = array<i64: 2>, keepdims = true} : (tensor<64x1x384xf32>) -> tensor<64x1x1xf32>
    %r = kiln.rsqrt %ms : (tensor<64x1x1xf32>) -> tensor<64x1x1xf32>
    %n = kiln.mul %qf, %r : (tensor<64x1x384xf32>, tensor<64x1x1xf32>) -> tensor<64x1x384xf32>
    %nb = kiln.cast %n {to = bf16} : (tensor<64x1x384xf32>) -> tensor<64x1x384xbf16>
    return %nb, %kv : tensor<64x1x384xbf16>, tensor<64x1x288xbf16>
  }
}
