// The collectives on the ptx target, in a world of one (run by kiln-run: with
// RANK=0 WORLD_SIZE=1 set they go through NCCL, otherwise through device
// copies). kiln-expand-collectives turns all_reduce and reduce_scatter into an
// exchange and a reduction kernel, and an inner-axis all_gather into one on
// axis 0 and a transpose; all_to_all reads its counts on the host and its
// gradient is the reverse exchange.
func.func @main(%x: tensor<8x6xbf16> {kiln.name = "x"},
                %y: tensor<4x5x3xf32> {kiln.name = "y"},
                %counts: tensor<1xi64> {kiln.name = "counts"})
    -> (tensor<8x6xbf16> {kiln.name = "summed"}, tensor<4x5x3xf32> {kiln.name = "maxed"},
        tensor<4x5x3xf32> {kiln.name = "gathered"}, tensor<4x5x3xf32> {kiln.name = "scattered"},
        tensor<10x6xbf16> {kiln.name = "moved"}, tensor<1xi64> {kiln.name = "received"},
        tensor<8x6xbf16> {kiln.name = "dx"}) {
  %s = kiln.all_reduce %x {reduction = "sum", group_size = 1 : i64} : (tensor<8x6xbf16>) -> tensor<8x6xbf16>
  %m = kiln.all_reduce %y {reduction = "max", group_size = 1 : i64} : (tensor<4x5x3xf32>) -> tensor<4x5x3xf32>
  %g = kiln.all_gather %y {axis = 1 : i64, group_size = 1 : i64} : (tensor<4x5x3xf32>) -> tensor<4x5x3xf32>
  %r = kiln.reduce_scatter %y {axis = 2 : i64, group_size = 1 : i64} : (tensor<4x5x3xf32>) -> tensor<4x5x3xf32>
  %a:2 = kiln.all_to_all %x, %counts {capacity = 10 : i64, group_size = 1 : i64} : (tensor<8x6xbf16>, tensor<1xi64>) -> (tensor<10x6xbf16>, tensor<1xi64>)
  %a32 = kiln.cast %a#0 {to = f32} : (tensor<10x6xbf16>) -> tensor<10x6xf32>
  %sq = kiln.mul %a32, %a32 : (tensor<10x6xf32>, tensor<10x6xf32>) -> tensor<10x6xf32>
  %loss = kiln.sum %sq {axes = array<i64: 0, 1>, keepdims = false} : (tensor<10x6xf32>) -> tensor<f32>
  %dx = kiln.grad %loss, %x : (tensor<f32>, tensor<8x6xbf16>) -> tensor<8x6xbf16>
  return %s, %m, %g, %r, %a#0, %a#1, %dx : tensor<8x6xbf16>, tensor<4x5x3xf32>, tensor<4x5x3xf32>, tensor<4x5x3xf32>, tensor<10x6xbf16>, tensor<1xi64>, tensor<8x6xbf16>
}
