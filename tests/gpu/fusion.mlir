// Fusion on the ptx target: elementwise chains become one kernel (flat and
// vectorised where every value has the root's element count or one element,
// indexed where a producer is broadcast), producers fuse into reductions, and a
// value with two uses is computed once. Narrow-float producers round to their
// own type inside the fused kernel exactly as their stored result would.
func.func @main(%x: tensor<64x40xbf16> {kiln.name = "x"}, %y: tensor<64x40xbf16> {kiln.name = "y"},
                %s: tensor<f32> {kiln.name = "s"}, %row: tensor<40xf32> {kiln.name = "row"},
                %a: tensor<64x40xf32> {kiln.name = "a"}, %odd: tensor<7x3xf32> {kiln.name = "odd"})
    -> (tensor<64x40xbf16> {kiln.name = "swiglu"}, tensor<64x40xf32> {kiln.name = "scalar_bcast"},
        tensor<64x40xf32> {kiln.name = "row_bcast"}, tensor<64xf32> {kiln.name = "sum_sq"},
        tensor<64xf32> {kiln.name = "lse_of_scaled"}, tensor<64x40xf32> {kiln.name = "two_uses"},
        tensor<7x3xf32> {kiln.name = "odd_count"}, tensor<64xf32> {kiln.name = "bf16_to_f32_mean"}) {
  %sg = kiln.silu %x : (tensor<64x40xbf16>) -> tensor<64x40xbf16>
  %swiglu = kiln.mul %sg, %y : (tensor<64x40xbf16>, tensor<64x40xbf16>) -> tensor<64x40xbf16>
  %e = kiln.exp %a : (tensor<64x40xf32>) -> tensor<64x40xf32>
  %t = kiln.tanh %e : (tensor<64x40xf32>) -> tensor<64x40xf32>
  %sb = kiln.mul %t, %s : (tensor<64x40xf32>, tensor<f32>) -> tensor<64x40xf32>
  %rs = kiln.sigmoid %row : (tensor<40xf32>) -> tensor<40xf32>
  %rb = kiln.add %a, %rs : (tensor<64x40xf32>, tensor<40xf32>) -> tensor<64x40xf32>
  %rbs = kiln.sin %rb : (tensor<64x40xf32>) -> tensor<64x40xf32>
  %sq = kiln.mul %a, %a : (tensor<64x40xf32>, tensor<64x40xf32>) -> tensor<64x40xf32>
  %sum = kiln.sum %sq {axes = array<i64: 1>, keepdims = false} : (tensor<64x40xf32>) -> tensor<64xf32>
  %sc = kiln.mul %a, %s : (tensor<64x40xf32>, tensor<f32>) -> tensor<64x40xf32>
  %lse = kiln.logsumexp %sc {axes = array<i64: 1>, keepdims = false} : (tensor<64x40xf32>) -> tensor<64xf32>
  %shared = kiln.cos %a : (tensor<64x40xf32>) -> tensor<64x40xf32>
  %u1 = kiln.mul %shared, %shared : (tensor<64x40xf32>, tensor<64x40xf32>) -> tensor<64x40xf32>
  %two = kiln.sub %u1, %shared : (tensor<64x40xf32>, tensor<64x40xf32>) -> tensor<64x40xf32>
  %oe = kiln.exp %odd : (tensor<7x3xf32>) -> tensor<7x3xf32>
  %oc = kiln.neg %oe : (tensor<7x3xf32>) -> tensor<7x3xf32>
  %xs = kiln.gelu %x : (tensor<64x40xbf16>) -> tensor<64x40xbf16>
  %xf = kiln.cast %xs {to = f32} : (tensor<64x40xbf16>) -> tensor<64x40xf32>
  %mean = kiln.mean %xf {axes = array<i64: 1>, keepdims = false} : (tensor<64x40xf32>) -> tensor<64xf32>
  return %swiglu, %sb, %rbs, %sum, %lse, %two, %oc, %mean : tensor<64x40xbf16>, tensor<64x40xf32>, tensor<64x40xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64x40xf32>, tensor<7x3xf32>, tensor<64xf32>
}
