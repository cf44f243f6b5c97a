// Cheap producers read by several kernels are cloned into each instead of
// launching their own (kiln-form-fusions): the residual stream's bf16 add read
// by an rms_norm row kernel and by the next residual add (two layers, where
// only every other add may be cloned), RoPE's cos/sin casts read by the q and
// k rotations (broadcast over heads in one), a transpose read by two kernels,
// a masked select read by a row max and by an elementwise kernel, and an
// f32 -> bf16 cast read by three kernels. Every output is compared with the
// CPU executor.
func.func @main(%h: tensor<33x2048xbf16> {kiln.name = "h"}, %o1: tensor<33x2048xbf16> {kiln.name = "o1"},
                %o2: tensor<33x2048xbf16> {kiln.name = "o2"}, %o3: tensor<33x2048xbf16> {kiln.name = "o3"},
                %w: tensor<2048xf32> {kiln.name = "w"}, %q: tensor<8x4x32xbf16> {kiln.name = "q"},
                %k: tensor<8x32xbf16> {kiln.name = "k"}, %cos: tensor<8x16xbf16> {kiln.name = "cos"},
                %sin: tensor<8x16xbf16> {kiln.name = "sin"}, %p: tensor<4x8x2x12xbf16> {kiln.name = "p"},
                %x: tensor<64x1000xf32> {kiln.name = "x"}, %f: tensor<40x24xf32> {kiln.name = "f"})
    -> (tensor<33x2048xbf16> {kiln.name = "norm1"}, tensor<33x2048xbf16> {kiln.name = "norm2"},
        tensor<33x2048xbf16> {kiln.name = "residual3"}, tensor<8x4x32xbf16> {kiln.name = "rope_q"},
        tensor<8x32xbf16> {kiln.name = "rope_k"}, tensor<8x4x24x2xf32> {kiln.name = "transposed_exp"},
        tensor<8x4x12x2xbf16> {kiln.name = "transposed_neg"}, tensor<64x1xf32> {kiln.name = "masked_max"},
        tensor<64x1000xf32> {kiln.name = "masked_exp"}, tensor<40x24xbf16> {kiln.name = "narrow_a"},
        tensor<24x40xbf16> {kiln.name = "narrow_b"}, tensor<40x24xf32> {kiln.name = "narrow_c"}) {
  %eps = kiln.constant {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  // Layer 1: the residual add is read by the norm and by layer 2's add.
  %a1 = kiln.add %h, %o1 : (tensor<33x2048xbf16>, tensor<33x2048xbf16>) -> tensor<33x2048xbf16>
  %f1 = kiln.cast %a1 {to = f32} : (tensor<33x2048xbf16>) -> tensor<33x2048xf32>
  %sq1 = kiln.mul %f1, %f1 : (tensor<33x2048xf32>, tensor<33x2048xf32>) -> tensor<33x2048xf32>
  %ms1 = kiln.mean %sq1 {axes = array<i64: 1>, keepdims = true} : (tensor<33x2048xf32>) -> tensor<33x1xf32>
  %pe1 = kiln.add %ms1, %eps : (tensor<33x1xf32>, tensor<f32>) -> tensor<33x1xf32>
  %r1 = kiln.rsqrt %pe1 : (tensor<33x1xf32>) -> tensor<33x1xf32>
  %n1 = kiln.mul %f1, %r1 : (tensor<33x2048xf32>, tensor<33x1xf32>) -> tensor<33x2048xf32>
  %y1 = kiln.mul %n1, %w : (tensor<33x2048xf32>, tensor<2048xf32>) -> tensor<33x2048xf32>
  %norm1 = kiln.cast %y1 {to = bf16} : (tensor<33x2048xf32>) -> tensor<33x2048xbf16>
  // Layer 2: its add is read by its norm and by the third add.
  %a2 = kiln.add %a1, %o2 : (tensor<33x2048xbf16>, tensor<33x2048xbf16>) -> tensor<33x2048xbf16>
  %f2 = kiln.cast %a2 {to = f32} : (tensor<33x2048xbf16>) -> tensor<33x2048xf32>
  %sq2 = kiln.mul %f2, %f2 : (tensor<33x2048xf32>, tensor<33x2048xf32>) -> tensor<33x2048xf32>
  %ms2 = kiln.mean %sq2 {axes = array<i64: 1>, keepdims = true} : (tensor<33x2048xf32>) -> tensor<33x1xf32>
  %pe2 = kiln.add %ms2, %eps : (tensor<33x1xf32>, tensor<f32>) -> tensor<33x1xf32>
  %r2 = kiln.rsqrt %pe2 : (tensor<33x1xf32>) -> tensor<33x1xf32>
  %n2 = kiln.mul %f2, %r2 : (tensor<33x2048xf32>, tensor<33x1xf32>) -> tensor<33x2048xf32>
  %y2 = kiln.mul %n2, %w : (tensor<33x2048xf32>, tensor<2048xf32>) -> tensor<33x2048xf32>
  %norm2 = kiln.cast %y2 {to = bf16} : (tensor<33x2048xf32>) -> tensor<33x2048xbf16>
  %a3 = kiln.add %a2, %o3 : (tensor<33x2048xbf16>, tensor<33x2048xbf16>) -> tensor<33x2048xbf16>
  // RoPE over q (8 positions x 4 heads) and k (8 positions): cos and sin are
  // cast once in the graph and read by both rotations.
  %cf = kiln.cast %cos {to = f32} : (tensor<8x16xbf16>) -> tensor<8x16xf32>
  %sf = kiln.cast %sin {to = f32} : (tensor<8x16xbf16>) -> tensor<8x16xf32>
  %cq = kiln.reshape %cf {shape = array<i64: 8, 1, 16>} : (tensor<8x16xf32>) -> tensor<8x1x16xf32>
  %sq = kiln.reshape %sf {shape = array<i64: 8, 1, 16>} : (tensor<8x16xf32>) -> tensor<8x1x16xf32>
  %qf = kiln.cast %q {to = f32} : (tensor<8x4x32xbf16>) -> tensor<8x4x32xf32>
  %q1 = kiln.slice %qf {start = array<i64: 0, 0, 0>, limit = array<i64: 8, 4, 16>, stride = array<i64: 1, 1, 1>} : (tensor<8x4x32xf32>) -> tensor<8x4x16xf32>
  %q2 = kiln.slice %qf {start = array<i64: 0, 0, 16>, limit = array<i64: 8, 4, 32>, stride = array<i64: 1, 1, 1>} : (tensor<8x4x32xf32>) -> tensor<8x4x16xf32>
  %qac = kiln.mul %q1, %cq : (tensor<8x4x16xf32>, tensor<8x1x16xf32>) -> tensor<8x4x16xf32>
  %qbs = kiln.mul %q2, %sq : (tensor<8x4x16xf32>, tensor<8x1x16xf32>) -> tensor<8x4x16xf32>
  %qlo = kiln.sub %qac, %qbs : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %qbc = kiln.mul %q2, %cq : (tensor<8x4x16xf32>, tensor<8x1x16xf32>) -> tensor<8x4x16xf32>
  %qas = kiln.mul %q1, %sq : (tensor<8x4x16xf32>, tensor<8x1x16xf32>) -> tensor<8x4x16xf32>
  %qhi = kiln.add %qbc, %qas : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %qr = kiln.concat %qlo, %qhi {axis = -1 : i64} : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x32xf32>
  %rope_q = kiln.cast %qr {to = bf16} : (tensor<8x4x32xf32>) -> tensor<8x4x32xbf16>
  %kf = kiln.cast %k {to = f32} : (tensor<8x32xbf16>) -> tensor<8x32xf32>
  %k1 = kiln.slice %kf {start = array<i64: 0, 0>, limit = array<i64: 8, 16>, stride = array<i64: 1, 1>} : (tensor<8x32xf32>) -> tensor<8x16xf32>
  %k2 = kiln.slice %kf {start = array<i64: 0, 16>, limit = array<i64: 8, 32>, stride = array<i64: 1, 1>} : (tensor<8x32xf32>) -> tensor<8x16xf32>
  %kac = kiln.mul %k1, %cf : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %kbs = kiln.mul %k2, %sf : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %klo = kiln.sub %kac, %kbs : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %kbc = kiln.mul %k2, %cf : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %kas = kiln.mul %k1, %sf : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %khi = kiln.add %kbc, %kas : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %kr = kiln.concat %klo, %khi {axis = -1 : i64} : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x32xf32>
  %rope_k = kiln.cast %kr {to = bf16} : (tensor<8x32xf32>) -> tensor<8x32xbf16>
  // A transpose (of a cast) read by two kernels: a reshape-exp and a neg.
  %pt = kiln.transpose %p {perm = array<i64: 1, 0, 3, 2>} : (tensor<4x8x2x12xbf16>) -> tensor<8x4x12x2xbf16>
  %pf = kiln.cast %pt {to = f32} : (tensor<8x4x12x2xbf16>) -> tensor<8x4x12x2xf32>
  %pc = kiln.concat %pf, %pf {axis = 2 : i64} : (tensor<8x4x12x2xf32>, tensor<8x4x12x2xf32>) -> tensor<8x4x24x2xf32>
  %pe = kiln.exp %pc : (tensor<8x4x24x2xf32>) -> tensor<8x4x24x2xf32>
  %pn = kiln.neg %pt : (tensor<8x4x12x2xbf16>) -> tensor<8x4x12x2xbf16>
  // A masked select read by a row max (its own kernel's root) and an exp.
  %zero = kiln.constant {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %keep = kiln.greater %x, %zero : (tensor<64x1000xf32>, tensor<f32>) -> tensor<64x1000xi1>
  %masked = kiln.select %keep, %x, %ninf : (tensor<64x1000xi1>, tensor<64x1000xf32>, tensor<f32>) -> tensor<64x1000xf32>
  %mmax = kiln.max %masked {axes = array<i64: 1>, keepdims = true} : (tensor<64x1000xf32>) -> tensor<64x1xf32>
  %mexp = kiln.exp %masked : (tensor<64x1000xf32>) -> tensor<64x1000xf32>
  // An f32 -> bf16 cast of a computed value read by three kernels (cloned
  // into each: the clones read no more than its own kernel would move).
  %fe = kiln.exp %f : (tensor<40x24xf32>) -> tensor<40x24xf32>
  %fb = kiln.cast %fe {to = bf16} : (tensor<40x24xf32>) -> tensor<40x24xbf16>
  %na = kiln.neg %fb : (tensor<40x24xbf16>) -> tensor<40x24xbf16>
  %nb = kiln.transpose %fb {perm = array<i64: 1, 0>} : (tensor<40x24xbf16>) -> tensor<24x40xbf16>
  %fw = kiln.cast %fb {to = f32} : (tensor<40x24xbf16>) -> tensor<40x24xf32>
  %nc = kiln.mul %fw, %fe : (tensor<40x24xf32>, tensor<40x24xf32>) -> tensor<40x24xf32>
  return %norm1, %norm2, %a3, %rope_q, %rope_k, %pe, %pn, %mmax, %mexp, %na, %nb, %nc
      : tensor<33x2048xbf16>, tensor<33x2048xbf16>, tensor<33x2048xbf16>, tensor<8x4x32xbf16>,
        tensor<8x32xbf16>, tensor<8x4x24x2xf32>, tensor<8x4x12x2xbf16>, tensor<64x1xf32>,
        tensor<64x1000xf32>, tensor<40x24xbf16>, tensor<24x40xbf16>, tensor<40x24xf32>
}
