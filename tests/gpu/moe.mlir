// The fused MoE ops (kiln-fuse-moe's output) on the ptx target: the plan, the
// gate/up and down products over the sorted rows, and the backward through
// moe_combine's direct kernel, against the CPU executor's fused kernels. Random
// experts in {0..7} may repeat within a token: the plan and the combine must
// still agree with the host. The routing weights are bf16 here: their gradient
// is a dot product of bf16 row gradients, so it carries bf16 precision whatever
// its type (as f32 it would be held to f32's tolerance).
func.func @main(%x: tensor<64x64xbf16> {kiln.name = "x"},
                %experts: tensor<64x4xi64> {kiln.name = "experts"},
                %weights: tensor<64x4xbf16> {kiln.name = "weights"},
                %wg: tensor<8x32x64xbf16> {kiln.name = "w_gate"},
                %wu: tensor<8x32x64xbf16> {kiln.name = "w_up"},
                %wd: tensor<8x64x32xbf16> {kiln.name = "w_down"})
    -> (tensor<64x64xbf16> {kiln.name = "y"}, tensor<256xi64> {kiln.name = "order"},
        tensor<64x4xi64> {kiln.name = "slot"}, tensor<8xi64> {kiln.name = "offsets"},
        tensor<64x64xbf16> {kiln.name = "dx"}, tensor<8x32x64xbf16> {kiln.name = "dw_gate"},
        tensor<8x64x32xbf16> {kiln.name = "dw_down"}, tensor<64x4xbf16> {kiln.name = "dweights"}) {
  %order, %slot, %offsets = kiln.moe_plan %experts {num_experts = 8 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<8xi64>)
  %act, %gate, %up = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<64x64xbf16>, tensor<8x32x64xbf16>, tensor<8x32x64xbf16>, tensor<256xi64>, tensor<8xi64>) -> (tensor<256x32xbf16>, tensor<256x32xbf16>, tensor<256x32xbf16>)
  %y = kiln.moe_down %act, %wd, %weights, %order, %slot, %offsets : (tensor<256x32xbf16>, tensor<8x64x32xbf16>, tensor<64x4xbf16>, tensor<256xi64>, tensor<64x4xi64>, tensor<8xi64>) -> tensor<64x64xbf16>
  %y32 = kiln.cast %y {to = f32} : (tensor<64x64xbf16>) -> tensor<64x64xf32>
  %sq = kiln.mul %y32, %y32 : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
  %loss = kiln.sum %sq {axes = array<i64: 0, 1>, keepdims = false} : (tensor<64x64xf32>) -> tensor<f32>
  %g:4 = kiln.grad %loss, %x, %wg, %wd, %weights : (tensor<f32>, tensor<64x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>, tensor<64x4xbf16>) -> (tensor<64x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>, tensor<64x4xbf16>)
  return %y, %order, %slot, %offsets, %g#0, %g#1, %g#2, %g#3 : tensor<64x64xbf16>, tensor<256xi64>, tensor<64x4xi64>, tensor<8xi64>, tensor<64x64xbf16>, tensor<8x32x64xbf16>, tensor<8x64x32xbf16>, tensor<64x4xbf16>
}
