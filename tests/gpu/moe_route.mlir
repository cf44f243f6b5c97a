// kiln.moe_route's thread-per-token kernel against the CPU executor, exactly
// (the experts bit for bit, the weights within f32 tolerance): DeepSeek-V3's
// shape (256 experts in 8 groups, 4 kept, top-8, normalised, scaled by 2.5)
// and a routing over scores with many ties (values in {-3..3}, so topk's
// tie order decides), one group, top-6, neither normalised nor scaled; and
// the 465M bench model's decode routing (32 experts, top-4) over a sigmoid of
// logits. (Fused into the routing kernel, which rereads each score O(k)
// times, the sigmoid made routing 12 -> 24 us a layer on an H100: it stays a
// kernel of its own.)
func.func @main(%a: tensor<64x256xf32> {kiln.name = "a"},
                %bias_a: tensor<256xf32> {kiln.name = "bias_a"},
                %b: tensor<300x64xf32> {kiln.name = "b"},
                %bias_b: tensor<64xf32> {kiln.name = "bias_b"},
                %logits: tensor<64x32xf32> {kiln.name = "logits"},
                %bias_c: tensor<32xf32> {kiln.name = "bias_c"})
    -> (tensor<64x8xi64> {kiln.name = "experts_a"}, tensor<64x8xf32> {kiln.name = "weights_a"},
        tensor<300x6xi64> {kiln.name = "experts_b"}, tensor<300x6xf32> {kiln.name = "weights_b"},
        tensor<64x4xi64> {kiln.name = "experts_sigmoid"}, tensor<64x4xf32> {kiln.name = "weights_sigmoid"}) {
  %ea, %wa = kiln.moe_route %a, %bias_a {num_groups = 8 : i64, topk_group = 4 : i64, top_k = 8 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<64x256xf32>, tensor<256xf32>) -> (tensor<64x8xi64>, tensor<64x8xf32>)
  %four = kiln.constant {value = dense<4.0> : tensor<f32>} : () -> tensor<f32>
  %wide = kiln.mul %b, %four : (tensor<300x64xf32>, tensor<f32>) -> tensor<300x64xf32>
  %ints = kiln.cast %wide {to = i64} : (tensor<300x64xf32>) -> tensor<300x64xi64>
  %tied = kiln.cast %ints {to = f32} : (tensor<300x64xi64>) -> tensor<300x64xf32>
  %zero = kiln.constant {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %nobias = kiln.mul %bias_b, %zero : (tensor<64xf32>, tensor<f32>) -> tensor<64xf32>
  %eb, %wb = kiln.moe_route %tied, %nobias {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 6 : i64, normalize = false, epsilon = 0.0 : f64, scaling = 1.0 : f64} : (tensor<300x64xf32>, tensor<64xf32>) -> (tensor<300x6xi64>, tensor<300x6xf32>)
  %sc = kiln.sigmoid %logits : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %ec, %wc = kiln.moe_route %sc, %bias_c {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 4 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<64x32xf32>, tensor<32xf32>) -> (tensor<64x4xi64>, tensor<64x4xf32>)
  return %ea, %wa, %eb, %wb, %ec, %wc : tensor<64x8xi64>, tensor<64x8xf32>, tensor<300x6xi64>, tensor<300x6xf32>, tensor<64x4xi64>, tensor<64x4xf32>
}
