// Reductions fused into the elementwise kernels that broadcast them back (row
// kernels): softmax, log_softmax, rms_norm and cross-entropy decompose into
// max/sum/mean over the last axis feeding elementwise math. Rows shorter and
// longer than a warp, a single row, bf16 storage with f32 math, -inf logits.
func.func @main(%x: tensor<64x1000xf32> {kiln.name = "x"}, %y: tensor<5x9x40xbf16> {kiln.name = "y"},
                %h: tensor<33x2048xbf16> {kiln.name = "h"}, %w: tensor<2048xbf16> {kiln.name = "w"},
                %one: tensor<1x4096xf32> {kiln.name = "one"}, %short: tensor<50x7xf32> {kiln.name = "short"},
                %labels: tensor<64xi64> {kiln.name = "labels"})
    -> (tensor<64x1000xf32> {kiln.name = "softmax"}, tensor<5x9x40xbf16> {kiln.name = "log_softmax_bf16"},
        tensor<33x2048xbf16> {kiln.name = "rms_norm_bf16"}, tensor<1x4096xf32> {kiln.name = "softmax_one_row"},
        tensor<50x7xf32> {kiln.name = "softmax_short_rows"}, tensor<64xf32> {kiln.name = "cross_entropy"},
        tensor<64x1000xf32> {kiln.name = "softmax_masked"}) {
  %s = kiln.softmax %x {axis = 1 : i64} : (tensor<64x1000xf32>) -> tensor<64x1000xf32>
  %l = kiln.log_softmax %y {axis = -1 : i64} : (tensor<5x9x40xbf16>) -> tensor<5x9x40xbf16>
  %r = kiln.rms_norm %h, %w {eps = 1.0e-6 : f64} : (tensor<33x2048xbf16>, tensor<2048xbf16>) -> tensor<33x2048xbf16>
  %o = kiln.softmax %one {axis = 1 : i64} : (tensor<1x4096xf32>) -> tensor<1x4096xf32>
  %t = kiln.softmax %short {axis = 1 : i64} : (tensor<50x7xf32>) -> tensor<50x7xf32>
  %ce = kiln.cross_entropy %x, %labels : (tensor<64x1000xf32>, tensor<64xi64>) -> tensor<64xf32>
  // Half of every row masked to -inf (x > 0 keeps), as attention masks do.
  %zero = kiln.constant {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %keep = kiln.greater %x, %zero : (tensor<64x1000xf32>, tensor<f32>) -> tensor<64x1000xi1>
  %masked = kiln.select %keep, %x, %ninf : (tensor<64x1000xi1>, tensor<64x1000xf32>, tensor<f32>) -> tensor<64x1000xf32>
  %sm = kiln.softmax %masked {axis = 1 : i64} : (tensor<64x1000xf32>) -> tensor<64x1000xf32>
  return %s, %l, %r, %o, %t, %ce, %sm : tensor<64x1000xf32>, tensor<5x9x40xbf16>, tensor<33x2048xbf16>,
      tensor<1x4096xf32>, tensor<50x7xf32>, tensor<64xf32>, tensor<64x1000xf32>
}
