// The quantization ops on the ptx target (the warp-per-tile quantize kernel
// for 1xB tiles, decompositions for the rest, and the fp8 GEMM's
// decomposition, K = 300 being no multiple of 16) against the CPU executor's
// exact emulation: 1x128 activation tiles with a partial last block
// (K = 300), 128x128 weight blocks, the promoted fp8 GEMM, the
// straight-through gradient, group-wise int4 and its dequantized copy, and i8
// in 1x64 groups. i4 buffers are packed two to a byte (docs/OPS.md
// "Storage"): q4 and its transpose q4t are written a nibble at a time by
// threads that share bytes, and q4odd has an odd element count.
func.func @main(%x: tensor<64x300xbf16> {kiln.name = "x"},
                %w: tensor<256x300xbf16> {kiln.name = "w"},
                %v: tensor<32x256xf32> {kiln.name = "v"},
                %u: tensor<3x5xf32> {kiln.name = "u"})
    -> (tensor<64x300xf8E4M3FN> {kiln.name = "qx"}, tensor<64x3xf32> {kiln.name = "sx"},
        tensor<64x300xf32> {kiln.name = "x_back"},
        tensor<64x256xf32> {kiln.name = "y"}, tensor<64x300xbf16> {kiln.name = "dx"},
        tensor<32x256xbf16> {kiln.name = "v_back"},
        tensor<32x256xi8> {kiln.name = "q8"}, tensor<32x4xf32> {kiln.name = "s8"},
        tensor<32x256xi4> {kiln.name = "q4"}, tensor<32x2xf32> {kiln.name = "s4"},
        tensor<256x32xi4> {kiln.name = "q4t"}, tensor<3x5xi4> {kiln.name = "q4odd"},
        tensor<3x5xf32> {kiln.name = "u_back"}) {
  %qx, %sx = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<64x300xbf16>) -> (tensor<64x300xf8E4M3FN>, tensor<64x3xf32>)
  %back = kiln.dequantize %qx, %sx {block = array<i64: 1, 128>, dtype = f32} : (tensor<64x300xf8E4M3FN>, tensor<64x3xf32>) -> tensor<64x300xf32>
  %qw, %sw = kiln.quantize %w {block = array<i64: 128, 128>, dtype = f8E4M3FN} : (tensor<256x300xbf16>) -> (tensor<256x300xf8E4M3FN>, tensor<2x3xf32>)
  %y = kiln.scaled_matmul %qx, %sx, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<64x300xf8E4M3FN>, tensor<64x3xf32>, tensor<256x300xf8E4M3FN>, tensor<2x3xf32>) -> tensor<64x256xf32>
  %l = kiln.sum %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<64x256xf32>) -> tensor<f32>
  %dx = kiln.grad %l, %x : (tensor<f32>, tensor<64x300xbf16>) -> (tensor<64x300xbf16>)
  %q4, %s4 = kiln.quantize %v {block = array<i64: 1, 128>, dtype = i4} : (tensor<32x256xf32>) -> (tensor<32x256xi4>, tensor<32x2xf32>)
  %v4 = kiln.dequantize %q4, %s4 {block = array<i64: 1, 128>, dtype = bf16} : (tensor<32x256xi4>, tensor<32x2xf32>) -> tensor<32x256xbf16>
  %q8, %s8 = kiln.quantize %v {block = array<i64: 1, 64>, dtype = i8} : (tensor<32x256xf32>) -> (tensor<32x256xi8>, tensor<32x4xf32>)
  %q4t = kiln.transpose %q4 {perm = array<i64: 1, 0>} : (tensor<32x256xi4>) -> tensor<256x32xi4>
  %qu, %su = kiln.quantize %u {block = array<i64: 1, 5>, dtype = i4} : (tensor<3x5xf32>) -> (tensor<3x5xi4>, tensor<3x1xf32>)
  %ub = kiln.dequantize %qu, %su {block = array<i64: 1, 5>, dtype = f32} : (tensor<3x5xi4>, tensor<3x1xf32>) -> tensor<3x5xf32>
  return %qx, %sx, %back, %y, %dx, %v4, %q8, %s8, %q4, %s4, %q4t, %qu, %ub : tensor<64x300xf8E4M3FN>, tensor<64x3xf32>, tensor<64x300xf32>, tensor<64x256xf32>, tensor<64x300xbf16>, tensor<32x256xbf16>, tensor<32x256xi8>, tensor<32x4xf32>, tensor<32x256xi4>, tensor<32x2xf32>, tensor<256x32xi4>, tensor<3x5xi4>, tensor<3x5xf32>
}
