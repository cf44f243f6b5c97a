// The fp8 wgmma kernel (kiln.scaled_matmul, DeepSeek-V3's 1x128 / 128x128
// block scales, promoted per 128 along K) against the CPU executor's exact
// emulation. M = 208 and 4 leave partial row tiles (4 rows also narrows the
// tile to 64 columns), K = 400 and 320 leave a partial last K block, and the
// outputs are f32 and bf16. Three products reach the kernel through
// kiln-expand-unfused-composites' K-major transposes: the input gradient's
// layout (b stored [K, N], its 128x128 scale transposed with it), an a
// stored [K, M] (its 128x1 scale becoming 1x128), and the weight gradient's
// dy^T x with both in 128x1 tiles along the tokens (b's scales per column).
// K = 112 is a single, partial 128-wide stage.
func.func @main(%x: tensor<208x400xbf16> {kiln.name = "x"},
                %x1: tensor<4x400xbf16> {kiln.name = "x1"},
                %w: tensor<320x400xbf16> {kiln.name = "w"},
                %dy: tensor<208x320xbf16> {kiln.name = "dy"},
                %w2: tensor<256x208xbf16> {kiln.name = "w2"},
                %x3: tensor<208x112xbf16> {kiln.name = "x3"},
                %w3: tensor<96x112xbf16> {kiln.name = "w3"})
    -> (tensor<208x320xf32> {kiln.name = "y"}, tensor<208x320xbf16> {kiln.name = "y_bf16"},
        tensor<4x320xbf16> {kiln.name = "y_decode"}, tensor<208x400xbf16> {kiln.name = "dx"},
        tensor<320x256xf32> {kiln.name = "z"}, tensor<320x400xf32> {kiln.name = "dw"},
        tensor<208x96xf32> {kiln.name = "y_one_stage"}) {
  %qx, %sx = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<208x400xbf16>) -> (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>)
  %qx1, %sx1 = kiln.quantize %x1 {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<4x400xbf16>) -> (tensor<4x400xf8E4M3FN>, tensor<4x4xf32>)
  %qw, %sw = kiln.quantize %w {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<320x400xbf16>) -> (tensor<320x400xf8E4M3FN>, tensor<3x4xf32>)
  %y = kiln.scaled_matmul %qx, %sx, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<208x320xf32>
  %yb = kiln.scaled_matmul %qx, %sx, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = bf16} : (tensor<208x400xf8E4M3FN>, tensor<208x4xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<208x320xbf16>
  %y1 = kiln.scaled_matmul %qx1, %sx1, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = bf16} : (tensor<4x400xf8E4M3FN>, tensor<4x4xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<4x320xbf16>
  %qdy, %sdy = kiln.quantize %dy {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<208x320xbf16>) -> (tensor<208x320xf8E4M3FN>, tensor<208x3xf32>)
  %dx = kiln.scaled_matmul %qdy, %sdy, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = false, dtype = bf16} : (tensor<208x320xf8E4M3FN>, tensor<208x3xf32>, tensor<320x400xf8E4M3FN>, tensor<3x4xf32>) -> tensor<208x400xbf16>
  %qdt, %sdt = kiln.quantize %dy {block = array<i64: 128, 1>, dtype = f8E4M3FN} : (tensor<208x320xbf16>) -> (tensor<208x320xf8E4M3FN>, tensor<2x320xf32>)
  %qw2, %sw2 = kiln.quantize %w2 {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<256x208xbf16>) -> (tensor<256x208xf8E4M3FN>, tensor<2x2xf32>)
  %z = kiln.scaled_matmul %qdt, %sdt, %qw2, %sw2 {a_block = array<i64: 128, 1>, b_block = array<i64: 128, 128>, transpose_a = true, transpose_b = true, dtype = f32} : (tensor<208x320xf8E4M3FN>, tensor<2x320xf32>, tensor<256x208xf8E4M3FN>, tensor<2x2xf32>) -> tensor<320x256xf32>
  %qxt, %sxt = kiln.quantize %x {block = array<i64: 128, 1>, dtype = f8E4M3FN} : (tensor<208x400xbf16>) -> (tensor<208x400xf8E4M3FN>, tensor<2x400xf32>)
  %dw = kiln.scaled_matmul %qdt, %sdt, %qxt, %sxt {a_block = array<i64: 128, 1>, b_block = array<i64: 128, 1>, transpose_a = true, transpose_b = false, dtype = f32} : (tensor<208x320xf8E4M3FN>, tensor<2x320xf32>, tensor<208x400xf8E4M3FN>, tensor<2x400xf32>) -> tensor<320x400xf32>
  %qx3, %sx3 = kiln.quantize %x3 {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<208x112xbf16>) -> (tensor<208x112xf8E4M3FN>, tensor<208x1xf32>)
  %qw3, %sw3 = kiln.quantize %w3 {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<96x112xbf16>) -> (tensor<96x112xf8E4M3FN>, tensor<1x1xf32>)
  %y3 = kiln.scaled_matmul %qx3, %sx3, %qw3, %sw3 {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<208x112xf8E4M3FN>, tensor<208x1xf32>, tensor<96x112xf8E4M3FN>, tensor<1x1xf32>) -> tensor<208x96xf32>
  return %y, %yb, %y1, %dx, %z, %dw, %y3 : tensor<208x320xf32>, tensor<208x320xbf16>, tensor<4x320xbf16>, tensor<208x400xbf16>, tensor<320x256xf32>, tensor<320x400xf32>, tensor<208x96xf32>
}
