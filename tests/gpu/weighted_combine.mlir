// A MoE layer's combine with the routing weights applied inside its kernel
// (kiln-form-fusions fuses the weights' gather and the scaled rows into the
// moe_combine region: passes/WeightedCombine.h) against the CPU executor's
// separate gather, multiply, rounding and combine. The decode layer's shape
// (64 tokens, top-4 of 8 experts: random ids in {0..7} that may repeat in a
// token), f32 weights and bf16 rows; and f32 rows with no casts.
func.func @main(%experts: tensor<64x4xi64> {kiln.name = "experts"}, %w: tensor<64x4xf32> {kiln.name = "w"}, %v: tensor<256xf32> {kiln.name = "v"},
                %y: tensor<256x1024xbf16> {kiln.name = "y"}, %yf: tensor<256x40xf32> {kiln.name = "yf"})
    -> (tensor<64x1024xbf16> {kiln.name = "combined_bf16"}, tensor<64x40xf32> {kiln.name = "combined_f32"}) {
  %order, %slot, %offsets = kiln.moe_plan %experts {num_experts = 8 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<8xi64>)
  %flat = kiln.reshape %w {shape = array<i64: 256>} : (tensor<64x4xf32>) -> tensor<256xf32>
  %g = kiln.gather %flat, %order {axis = 0 : i64} : (tensor<256xf32>, tensor<256xi64>) -> tensor<256xf32>
  %g2 = kiln.reshape %g {shape = array<i64: 256, 1>} : (tensor<256xf32>) -> tensor<256x1xf32>
  %y32 = kiln.cast %y {to = f32} : (tensor<256x1024xbf16>) -> tensor<256x1024xf32>
  %p = kiln.mul %y32, %g2 : (tensor<256x1024xf32>, tensor<256x1xf32>) -> tensor<256x1024xf32>
  %r = kiln.cast %p {to = bf16} : (tensor<256x1024xf32>) -> tensor<256x1024xbf16>
  %c = kiln.moe_combine %r, %order, %slot : (tensor<256x1024xbf16>, tensor<256xi64>, tensor<64x4xi64>) -> tensor<64x1024xbf16>
  %h = kiln.gather %v, %order {axis = 0 : i64} : (tensor<256xf32>, tensor<256xi64>) -> tensor<256xf32>
  %h2 = kiln.reshape %h {shape = array<i64: 256, 1>} : (tensor<256xf32>) -> tensor<256x1xf32>
  %q = kiln.mul %h2, %yf : (tensor<256x1xf32>, tensor<256x40xf32>) -> tensor<256x40xf32>
  %d = kiln.moe_combine %q, %order, %slot : (tensor<256x40xf32>, tensor<256xi64>, tensor<64x4xi64>) -> tensor<64x40xf32>
  return %c, %d : tensor<64x1024xbf16>, tensor<64x40xf32>
}
