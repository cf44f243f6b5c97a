// Decode attention (DecodeAttentionKernel.cpp): one query a head, one kv head.
// MLA's absorbed shape with the key read through the concat of the latent and
// RoPE caches (kiln-form-fusions fuses it), causal at per-sequence offsets and
// lengths drawn from {0..7} (some sequences see no key and must give 0) and
// with every key visible; f32 with a three-part key whose parts straddle the
// lanes' 32-dim strides, a dk that is not a multiple of 32, values wider than
// the block (two column passes) and 6 heads (2 a block); one head; and 5000
// keys, whose scores fit shared memory only 4 heads a block.
func.func @main(%lat: tensor<4x272x256xbf16> {kiln.name = "lat"}, %rope: tensor<4x272x32xbf16> {kiln.name = "rope"},
                %q: tensor<4x16x1x288xbf16> {kiln.name = "q"}, %pos: tensor<4xi64> {kiln.name = "pos"},
                %a0: tensor<3x37x13xf32> {kiln.name = "a0"}, %a1: tensor<3x37x20xf32> {kiln.name = "a1"},
                %a2: tensor<3x37x7xf32> {kiln.name = "a2"}, %qf: tensor<3x6x1x40xf32> {kiln.name = "qf"},
                %vf: tensor<3x1x37x300xf32> {kiln.name = "vf"},
                %q1: tensor<2x1x1x64xf32> {kiln.name = "q1"}, %k1: tensor<2x1x50x64xf32> {kiln.name = "k1"},
                %v1: tensor<2x1x50x16xf32> {kiln.name = "v1"},
                %ql: tensor<1x16x1x64xbf16> {kiln.name = "ql"}, %kl: tensor<1x1x5000x64xbf16> {kiln.name = "kl"},
                %vl: tensor<1x1x5000x64xbf16> {kiln.name = "vl"})
    -> (tensor<4x16x1x256xbf16> {kiln.name = "mla_causal"}, tensor<4x16x1x256xbf16> {kiln.name = "mla_all_keys"},
        tensor<3x6x1x300xf32> {kiln.name = "three_parts"}, tensor<2x1x1x16xf32> {kiln.name = "one_head"},
        tensor<1x16x1x64xbf16> {kiln.name = "long"}) {
  %key = kiln.concat %lat, %rope {axis = 2 : i64} : (tensor<4x272x256xbf16>, tensor<4x272x32xbf16>) -> tensor<4x272x288xbf16>
  %k = kiln.reshape %key {shape = array<i64: 4, 1, 272, 288>} : (tensor<4x272x288xbf16>) -> tensor<4x1x272x288xbf16>
  %v = kiln.reshape %lat {shape = array<i64: 4, 1, 272, 256>} : (tensor<4x272x256xbf16>) -> tensor<4x1x272x256xbf16>
  %one = kiln.constant {value = dense<1> : tensor<4xi64>} : () -> tensor<4xi64>
  %len = kiln.add %pos, %one : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %m = kiln.attention %q, %k, %v, %len, %pos {scale = 0.0589 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<4x16x1x288xbf16>, tensor<4x1x272x288xbf16>, tensor<4x1x272x256xbf16>, tensor<4xi64>, tensor<4xi64>) -> tensor<4x16x1x256xbf16>
  %key2 = kiln.concat %lat, %rope {axis = -1 : i64} : (tensor<4x272x256xbf16>, tensor<4x272x32xbf16>) -> tensor<4x272x288xbf16>
  %k2 = kiln.reshape %key2 {shape = array<i64: 4, 1, 272, 288>} : (tensor<4x272x288xbf16>) -> tensor<4x1x272x288xbf16>
  %n = kiln.attention %q, %k2, %v {scale = 0.0589 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<4x16x1x288xbf16>, tensor<4x1x272x288xbf16>, tensor<4x1x272x256xbf16>) -> tensor<4x16x1x256xbf16>
  %kf3 = kiln.concat %a0, %a1, %a2 {axis = 2 : i64} : (tensor<3x37x13xf32>, tensor<3x37x20xf32>, tensor<3x37x7xf32>) -> tensor<3x37x40xf32>
  %kf = kiln.reshape %kf3 {shape = array<i64: 3, 1, 37, 40>} : (tensor<3x37x40xf32>) -> tensor<3x1x37x40xf32>
  %f = kiln.attention %qf, %kf, %vf {scale = 0.158 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<3x6x1x40xf32>, tensor<3x1x37x40xf32>, tensor<3x1x37x300xf32>) -> tensor<3x6x1x300xf32>
  %o = kiln.attention %q1, %k1, %v1 {scale = 0.125 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x1x1x64xf32>, tensor<2x1x50x64xf32>, tensor<2x1x50x16xf32>) -> tensor<2x1x1x16xf32>
  %l = kiln.attention %ql, %kl, %vl {scale = 0.125 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x16x1x64xbf16>, tensor<1x1x5000x64xbf16>, tensor<1x1x5000x64xbf16>) -> tensor<1x16x1x64xbf16>
  return %m, %n, %f, %o, %l : tensor<4x16x1x256xbf16>, tensor<4x16x1x256xbf16>, tensor<3x6x1x300xf32>, tensor<2x1x1x16xf32>, tensor<1x16x1x64xbf16>
}
