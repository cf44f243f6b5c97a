// Shapes whose leading dimension is past CUDA's 65535 limit on grid y/z: every
// kernel is one flat loop, so these launch like any other.
func.func @main(%x: tensor<70001x8xf32> {kiln.name = "x"}, %y: tensor<8x70001xbf16> {kiln.name = "y"})
    -> (tensor<70001x8xf32> {kiln.name = "silu_mul"}, tensor<70001x8xbf16> {kiln.name = "transposed"},
        tensor<8xf32> {kiln.name = "column_sums"}) {
  %s = kiln.silu %x : (tensor<70001x8xf32>) -> tensor<70001x8xf32>
  %m = kiln.mul %s, %x : (tensor<70001x8xf32>, tensor<70001x8xf32>) -> tensor<70001x8xf32>
  %t = kiln.transpose %y {perm = array<i64: 1, 0>} : (tensor<8x70001xbf16>) -> tensor<70001x8xbf16>
  %c = kiln.sum %x {axes = array<i64: 0>, keepdims = false} : (tensor<70001x8xf32>) -> tensor<8xf32>
  return %m, %t, %c : tensor<70001x8xf32>, tensor<70001x8xbf16>, tensor<8xf32>
}
