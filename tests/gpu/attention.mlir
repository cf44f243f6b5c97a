// Fused attention (AttentionKernel.cpp): GQA, causal with and without a query
// offset, valid lengths (integer inputs are drawn from {0..7}, so some rows see
// no key and must give 0), bf16 storage, MLA's absorbed decode shape (one query,
// 288-wide keys, 256-wide values), key counts that are not multiples of a warp,
// and rows too long for shared memory, which are decomposed instead.
func.func @main(%q: tensor<2x8x13x40xf32> {kiln.name = "q"}, %k: tensor<2x2x37x40xf32> {kiln.name = "k"},
                %v: tensor<2x2x37x24xf32> {kiln.name = "v"}, %len: tensor<2xi64> {kiln.name = "len"},
                %off: tensor<2xi64> {kiln.name = "off"},
                %qb: tensor<3x4x9x64xbf16> {kiln.name = "qb"}, %kb: tensor<3x4x300x64xbf16> {kiln.name = "kb"},
                %vb: tensor<3x4x300x64xbf16> {kiln.name = "vb"},
                %qd: tensor<4x16x1x288xbf16> {kiln.name = "qd"}, %kd: tensor<4x1x272x288xbf16> {kiln.name = "kd"},
                %vd: tensor<4x1x272x256xbf16> {kiln.name = "vd"}, %lend: tensor<4xi64> {kiln.name = "lend"},
                %ql: tensor<1x1x2x16xf32> {kiln.name = "ql"}, %kl: tensor<1x1x9000x16xf32> {kiln.name = "kl"},
                %vl: tensor<1x1x9000x8xf32> {kiln.name = "vl"})
    -> (tensor<2x8x13x24xf32> {kiln.name = "gqa_causal_offset_len"}, tensor<2x8x13x24xf32> {kiln.name = "gqa_plain"},
        tensor<3x4x9x64xbf16> {kiln.name = "bf16_causal"}, tensor<4x16x1x256xbf16> {kiln.name = "mla_decode"},
        tensor<1x1x2x8xf32> {kiln.name = "long_rows_decomposed"}) {
  %a = kiln.attention %q, %k, %v, %len, %off {scale = 0.158 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<2x8x13x40xf32>, tensor<2x2x37x40xf32>, tensor<2x2x37x24xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x8x13x24xf32>
  %b = kiln.attention %q, %k, %v {scale = 0.158 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x8x13x40xf32>, tensor<2x2x37x40xf32>, tensor<2x2x37x24xf32>) -> tensor<2x8x13x24xf32>
  %c = kiln.attention %qb, %kb, %vb {scale = 0.125 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<3x4x9x64xbf16>, tensor<3x4x300x64xbf16>, tensor<3x4x300x64xbf16>) -> tensor<3x4x9x64xbf16>
  %d = kiln.attention %qd, %kd, %vd, %lend {scale = 0.0589 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<4x16x1x288xbf16>, tensor<4x1x272x288xbf16>, tensor<4x1x272x256xbf16>, tensor<4xi64>) -> tensor<4x16x1x256xbf16>
  %e = kiln.attention %ql, %kl, %vl {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x1x2x16xf32>, tensor<1x1x9000x16xf32>, tensor<1x1x9000x8xf32>) -> tensor<1x1x2x8xf32>
  return %a, %b, %c, %d, %e : tensor<2x8x13x24xf32>, tensor<2x8x13x24xf32>, tensor<3x4x9x64xbf16>, tensor<4x16x1x256xbf16>, tensor<1x1x2x8xf32>
}
