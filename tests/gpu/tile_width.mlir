// Hand-written wgmma tile widths (kiln.tile_n) against the CPU executor: a
// decode q_a projection in 32-wide tiles, the shared expert's gated pair in
// 32-wide tiles, and the experts' gate/up in 64-wide tiles (the router
// picks them from random scores).
func.func @main(%x: tensor<64x1024xbf16> {kiln.name = "x"},
                %wq: tensor<384x1024xbf16> {kiln.name = "w_q"},
                %wg: tensor<512x1024xbf16> {kiln.name = "w_gate"},
                %wu: tensor<512x1024xbf16> {kiln.name = "w_up"},
                %scores: tensor<64x32xf32> {kiln.name = "scores"},
                %bias: tensor<32xf32> {kiln.name = "bias"},
                %eg: tensor<32x512x1024xbf16> {kiln.name = "experts_gate"},
                %eu: tensor<32x512x1024xbf16> {kiln.name = "experts_up"})
    -> (tensor<64x384xbf16> {kiln.name = "q_a_32"}, tensor<64x512xbf16> {kiln.name = "gated_32"},
        tensor<256x512xbf16> {kiln.name = "gate_up_64"}) {
  %0 = kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 32 : i64} : tensor<64x384xbf16> {
    %m = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
    kiln.yield %m : tensor<64x384xbf16>
  }
  %1 = kiln.dispatch kernel "wgmma_gated_matmul" {kiln.tile_n = 32 : i64} : tensor<64x512xbf16> {
    %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
    %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x512xbf16>
    %s = kiln.silu %g : (tensor<64x512xbf16>) -> tensor<64x512xbf16>
    %a = kiln.mul %s, %u : (tensor<64x512xbf16>, tensor<64x512xbf16>) -> tensor<64x512xbf16>
    kiln.yield %a : tensor<64x512xbf16>
  }
  %e, %w = kiln.moe_route %scores, %bias {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 4 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<64x32xf32>, tensor<32xf32>) -> (tensor<64x4xi64>, tensor<64x4xf32>)
  %order, %slot, %offsets = kiln.moe_plan %e {num_experts = 32 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>)
  %2:3 = kiln.dispatch kernel "wgmma_moe_gate_up" {kiln.tile_n = 64 : i64} : tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16> {
    %act, %gate, %up = kiln.moe_gate_up %x, %eg, %eu, %order, %offsets : (tensor<64x1024xbf16>, tensor<32x512x1024xbf16>, tensor<32x512x1024xbf16>, tensor<256xi64>, tensor<32xi64>) -> (tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>)
    kiln.yield %act, %gate, %up : tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>
  }
  return %0, %1, %2#0 : tensor<64x384xbf16>, tensor<64x512xbf16>, tensor<256x512xbf16>
}
