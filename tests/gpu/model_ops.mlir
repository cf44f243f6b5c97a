// Composite ops decomposed into primitives on the ptx target: an MLP with
// cross-entropy, softmax, rms_norm, rotary and GQA attention with a causal
// offset and valid lengths, in f32.
func.func @main(%x: tensor<33x65xf32> {kiln.name = "x"}, %w1: tensor<65x47xf32> {kiln.name = "w1"},
                %w2: tensor<47x17xf32> {kiln.name = "w2"}, %labels: tensor<33xi64> {kiln.name = "labels"},
                %nw: tensor<47xf32> {kiln.name = "norm_weight"},
                %q: tensor<2x4x5x8xf32> {kiln.name = "q"}, %k: tensor<2x2x7x8xf32> {kiln.name = "k"},
                %v: tensor<2x2x7x6xf32> {kiln.name = "v"}, %len: tensor<2xi64> {kiln.name = "len"},
                %cos: tensor<5x4xf32> {kiln.name = "cos"}, %sin: tensor<5x4xf32> {kiln.name = "sin"})
    -> (tensor<f32> {kiln.name = "loss"}, tensor<33x17xf32> {kiln.name = "probs"},
        tensor<33x47xf32> {kiln.name = "normed"}, tensor<2x4x5x6xf32> {kiln.name = "attn"},
        tensor<2x4x5x8xf32> {kiln.name = "rope"}) {
  %h = kiln.matmul %x, %w1 {transpose_a = false, transpose_b = false} : (tensor<33x65xf32>, tensor<65x47xf32>) -> tensor<33x47xf32>
  %g = kiln.gelu %h : (tensor<33x47xf32>) -> tensor<33x47xf32>
  %normed = kiln.rms_norm %g, %nw {eps = 1.0e-6 : f64} : (tensor<33x47xf32>, tensor<47xf32>) -> tensor<33x47xf32>
  %logits = kiln.matmul %normed, %w2 {transpose_a = false, transpose_b = false} : (tensor<33x47xf32>, tensor<47x17xf32>) -> tensor<33x17xf32>
  %ce = kiln.cross_entropy %logits, %labels : (tensor<33x17xf32>, tensor<33xi64>) -> tensor<33xf32>
  %loss = kiln.mean %ce {axes = array<i64: 0>, keepdims = false} : (tensor<33xf32>) -> tensor<f32>
  %probs = kiln.softmax %logits {axis = -1 : i64} : (tensor<33x17xf32>) -> tensor<33x17xf32>
  %rope = kiln.rotary %q, %cos, %sin {interleaved = true} : (tensor<2x4x5x8xf32>, tensor<5x4xf32>, tensor<5x4xf32>) -> tensor<2x4x5x8xf32>
  %attn = kiln.attention %rope, %k, %v, %len {scale = 0.35 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x4x5x8xf32>, tensor<2x2x7x8xf32>, tensor<2x2x7x6xf32>, tensor<2xi64>) -> tensor<2x4x5x6xf32>
  return %loss, %probs, %normed, %attn, %rope : tensor<f32>, tensor<33x17xf32>, tensor<33x47xf32>, tensor<2x4x5x6xf32>, tensor<2x4x5x8xf32>
}
