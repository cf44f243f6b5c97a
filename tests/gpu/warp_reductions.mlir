// Reductions over trailing (contiguous) dims of at least 32 elements run one warp
// per output with a shuffle butterfly: every kind, keepdims, two trailing axes,
// integers, a bf16 input, a fused producer, and the composites built on them
// (softmax, log_softmax, rms_norm in bf16). Rows of 4096 or more (a vocabulary)
// take a block of 256 threads each, combining warps through shared memory.
func.func @main(%x: tensor<37x300xf32> {kiln.name = "x"}, %y: tensor<5x9x40xf32> {kiln.name = "y"},
                %i: tensor<6x100xi32> {kiln.name = "i"}, %h: tensor<11x64xbf16> {kiln.name = "h"},
                %hw: tensor<64xbf16> {kiln.name = "hw"}, %v: tensor<9x32003xf32> {kiln.name = "v"},
                %vb: tensor<3x5000xbf16> {kiln.name = "vb"})
    -> (tensor<37xf32> {kiln.name = "sum"}, tensor<37x1xf32> {kiln.name = "mean_keep"},
        tensor<37xf32> {kiln.name = "max"}, tensor<37xf32> {kiln.name = "min"},
        tensor<37xf32> {kiln.name = "lse"}, tensor<5xf32> {kiln.name = "sum_two_axes"},
        tensor<6xi32> {kiln.name = "int_max"}, tensor<11xbf16> {kiln.name = "bf16_sum"},
        tensor<37xf32> {kiln.name = "sum_sq"}, tensor<37x300xf32> {kiln.name = "softmax"},
        tensor<5x9x40xf32> {kiln.name = "log_softmax"}, tensor<11x64xbf16> {kiln.name = "rms_norm"},
        tensor<9x32003xf32> {kiln.name = "vocab_softmax"}, tensor<9xf32> {kiln.name = "vocab_lse"},
        tensor<9xf32> {kiln.name = "vocab_max"}, tensor<3x5000xbf16> {kiln.name = "bf16_log_softmax_5000"},
        tensor<3x1xf32> {kiln.name = "bf16_mean_5000"}) {
  %sum = kiln.sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<37x300xf32>) -> tensor<37xf32>
  %mean = kiln.mean %x {axes = array<i64: -1>, keepdims = true} : (tensor<37x300xf32>) -> tensor<37x1xf32>
  %max = kiln.max %x {axes = array<i64: 1>, keepdims = false} : (tensor<37x300xf32>) -> tensor<37xf32>
  %min = kiln.min %x {axes = array<i64: 1>, keepdims = false} : (tensor<37x300xf32>) -> tensor<37xf32>
  %lse = kiln.logsumexp %x {axes = array<i64: 1>, keepdims = false} : (tensor<37x300xf32>) -> tensor<37xf32>
  %s2 = kiln.sum %y {axes = array<i64: 1, 2>, keepdims = false} : (tensor<5x9x40xf32>) -> tensor<5xf32>
  %im = kiln.max %i {axes = array<i64: 1>, keepdims = false} : (tensor<6x100xi32>) -> tensor<6xi32>
  %hs = kiln.sum %h {axes = array<i64: 1>, keepdims = false} : (tensor<11x64xbf16>) -> tensor<11xbf16>
  %sq = kiln.mul %x, %x : (tensor<37x300xf32>, tensor<37x300xf32>) -> tensor<37x300xf32>
  %ss = kiln.sum %sq {axes = array<i64: 1>, keepdims = false} : (tensor<37x300xf32>) -> tensor<37xf32>
  %sm = kiln.softmax %x {axis = 1 : i64} : (tensor<37x300xf32>) -> tensor<37x300xf32>
  %ls = kiln.log_softmax %y {axis = -1 : i64} : (tensor<5x9x40xf32>) -> tensor<5x9x40xf32>
  %rn = kiln.rms_norm %h, %hw {eps = 1.0e-06 : f64} : (tensor<11x64xbf16>, tensor<64xbf16>) -> tensor<11x64xbf16>
  %vs = kiln.softmax %v {axis = 1 : i64} : (tensor<9x32003xf32>) -> tensor<9x32003xf32>
  %vl = kiln.logsumexp %v {axes = array<i64: 1>, keepdims = false} : (tensor<9x32003xf32>) -> tensor<9xf32>
  %vm = kiln.max %v {axes = array<i64: 1>, keepdims = false} : (tensor<9x32003xf32>) -> tensor<9xf32>
  %bl = kiln.log_softmax %vb {axis = 1 : i64} : (tensor<3x5000xbf16>) -> tensor<3x5000xbf16>
  %vbf = kiln.cast %vb {to = f32} : (tensor<3x5000xbf16>) -> tensor<3x5000xf32>
  %bm = kiln.mean %vbf {axes = array<i64: 1>, keepdims = true} : (tensor<3x5000xf32>) -> tensor<3x1xf32>
  return %sum, %mean, %max, %min, %lse, %s2, %im, %hs, %ss, %sm, %ls, %rn, %vs, %vl, %vm, %bl, %bm : tensor<37xf32>, tensor<37x1xf32>, tensor<37xf32>, tensor<37xf32>, tensor<37xf32>, tensor<5xf32>, tensor<6xi32>, tensor<11xbf16>, tensor<37xf32>, tensor<37x300xf32>, tensor<5x9x40xf32>, tensor<11x64xbf16>, tensor<9x32003xf32>, tensor<9xf32>, tensor<9xf32>, tensor<3x5000xbf16>, tensor<3x1xf32>
}
