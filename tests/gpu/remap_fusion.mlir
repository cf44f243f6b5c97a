// Index remaps read through inside fused kernels (kiln-form-fusions): RoPE's
// slice/mul/concat chain over a bf16 input cast to f32, rms_norm whose f32
// cast has three uses and whose bf16 weight is cast where it is broadcast,
// transposes and reshapes read through by their consumers, a three-way concat
// of fused operands, a strided slice of a fused product, and a transpose
// rooted kernel reading a cast. Every output is compared with the CPU executor.
func.func @main(%x: tensor<8x4x32xbf16> {kiln.name = "x"}, %cos: tensor<4x16xf32> {kiln.name = "cos"},
                %sin: tensor<4x16xf32> {kiln.name = "sin"}, %h: tensor<16x96xbf16> {kiln.name = "h"},
                %w: tensor<96xbf16> {kiln.name = "w"}, %q: tensor<4x8x2x12xbf16> {kiln.name = "q"},
                %a: tensor<6x10xf32> {kiln.name = "a"}, %b: tensor<6x3xf32> {kiln.name = "b"})
    -> (tensor<8x4x32xbf16> {kiln.name = "rope"}, tensor<16x96xbf16> {kiln.name = "rms_norm"},
        tensor<8x4x24xf32> {kiln.name = "transpose_reshape"}, tensor<6x23xf32> {kiln.name = "concat3"},
        tensor<3x5xf32> {kiln.name = "strided"}, tensor<24x32xbf16> {kiln.name = "transpose_root"},
        tensor<16x16xf32> {kiln.name = "matmul_of_remap"},
        tensor<96x16xf32> {kiln.name = "log_softmax_transposed"}) {
  // RoPE, rotate-half form, over the last dim of x.
  %xf = kiln.cast %x {to = f32} : (tensor<8x4x32xbf16>) -> tensor<8x4x32xf32>
  %x1 = kiln.slice %xf {start = array<i64: 0, 0, 0>, limit = array<i64: 8, 4, 16>, stride = array<i64: 1, 1, 1>} : (tensor<8x4x32xf32>) -> tensor<8x4x16xf32>
  %x2 = kiln.slice %xf {start = array<i64: 0, 0, 16>, limit = array<i64: 8, 4, 32>, stride = array<i64: 1, 1, 1>} : (tensor<8x4x32xf32>) -> tensor<8x4x16xf32>
  %ac = kiln.mul %x1, %cos : (tensor<8x4x16xf32>, tensor<4x16xf32>) -> tensor<8x4x16xf32>
  %bs = kiln.mul %x2, %sin : (tensor<8x4x16xf32>, tensor<4x16xf32>) -> tensor<8x4x16xf32>
  %lo = kiln.sub %ac, %bs : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %bc = kiln.mul %x2, %cos : (tensor<8x4x16xf32>, tensor<4x16xf32>) -> tensor<8x4x16xf32>
  %as = kiln.mul %x1, %sin : (tensor<8x4x16xf32>, tensor<4x16xf32>) -> tensor<8x4x16xf32>
  %hi = kiln.add %bc, %as : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  %rf = kiln.concat %lo, %hi {axis = -1 : i64} : (tensor<8x4x16xf32>, tensor<8x4x16xf32>) -> tensor<8x4x32xf32>
  %rope = kiln.cast %rf {to = bf16} : (tensor<8x4x32xf32>) -> tensor<8x4x32xbf16>
  // rms_norm as the model writes it.
  %eps = kiln.constant {value = dense<1.0e-6> : tensor<f32>} : () -> tensor<f32>
  %wf = kiln.cast %w {to = f32} : (tensor<96xbf16>) -> tensor<96xf32>
  %hf = kiln.cast %h {to = f32} : (tensor<16x96xbf16>) -> tensor<16x96xf32>
  %sq = kiln.mul %hf, %hf : (tensor<16x96xf32>, tensor<16x96xf32>) -> tensor<16x96xf32>
  %ms = kiln.mean %sq {axes = array<i64: 1>, keepdims = true} : (tensor<16x96xf32>) -> tensor<16x1xf32>
  %pe = kiln.add %ms, %eps : (tensor<16x1xf32>, tensor<f32>) -> tensor<16x1xf32>
  %r = kiln.rsqrt %pe : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n = kiln.mul %hf, %r : (tensor<16x96xf32>, tensor<16x1xf32>) -> tensor<16x96xf32>
  %y = kiln.mul %n, %wf : (tensor<16x96xf32>, tensor<96xf32>) -> tensor<16x96xf32>
  %norm = kiln.cast %y {to = bf16} : (tensor<16x96xf32>) -> tensor<16x96xbf16>
  // A transpose and reshapes read through by an elementwise consumer.
  %qt = kiln.transpose %q {perm = array<i64: 1, 0, 3, 2>} : (tensor<4x8x2x12xbf16>) -> tensor<8x4x12x2xbf16>
  %qr = kiln.reshape %qt {shape = array<i64: 8, 4, 24>} : (tensor<8x4x12x2xbf16>) -> tensor<8x4x24xbf16>
  %qf = kiln.cast %qr {to = f32} : (tensor<8x4x24xbf16>) -> tensor<8x4x24xf32>
  %tr = kiln.exp %qf : (tensor<8x4x24xf32>) -> tensor<8x4x24xf32>
  // concat of three fused operands, one of them a slice.
  %ea = kiln.exp %a : (tensor<6x10xf32>) -> tensor<6x10xf32>
  %nb = kiln.neg %b : (tensor<6x3xf32>) -> tensor<6x3xf32>
  %sa = kiln.slice %a {start = array<i64: 0, 0>, limit = array<i64: 6, 10>, stride = array<i64: 1, 1>} : (tensor<6x10xf32>) -> tensor<6x10xf32>
  %c3 = kiln.concat %ea, %nb, %sa {axis = 1 : i64} : (tensor<6x10xf32>, tensor<6x3xf32>, tensor<6x10xf32>) -> tensor<6x23xf32>
  // A strided slice of a fused product.
  %pa = kiln.mul %a, %a : (tensor<6x10xf32>, tensor<6x10xf32>) -> tensor<6x10xf32>
  %st = kiln.slice %pa {start = array<i64: 1, 0>, limit = array<i64: 6, 10>, stride = array<i64: 2, 2>} : (tensor<6x10xf32>) -> tensor<3x5xf32>
  // A transpose rooted kernel reading a cast (a matmul operand would be).
  %qc = kiln.reshape %q {shape = array<i64: 32, 24>} : (tensor<4x8x2x12xbf16>) -> tensor<32x24xbf16>
  %qs = kiln.sigmoid %qc : (tensor<32x24xbf16>) -> tensor<32x24xbf16>
  %tt = kiln.transpose %qs {perm = array<i64: 1, 0>} : (tensor<32x24xbf16>) -> tensor<24x32xbf16>
  // A remap feeding a matmul (kept as its own kernel) and the matmul.
  %ht = kiln.transpose %norm {perm = array<i64: 1, 0>} : (tensor<16x96xbf16>) -> tensor<96x16xbf16>
  %hr = kiln.reshape %ht {shape = array<i64: 96, 16>} : (tensor<96x16xbf16>) -> tensor<96x16xbf16>
  %hm = kiln.matmul %norm, %hr {transpose_a = false, transpose_b = false} : (tensor<16x96xbf16>, tensor<96x16xbf16>) -> tensor<16x16xbf16>
  %mm = kiln.cast %hm {to = f32} : (tensor<16x16xbf16>) -> tensor<16x16xf32>
  // A row region (log_softmax's max and logsumexp) whose root feeds a
  // transpose: the root keeps its row kernel.
  %lmax = kiln.max %hf {axes = array<i64: 1>, keepdims = true} : (tensor<16x96xf32>) -> tensor<16x1xf32>
  %lsub = kiln.sub %hf, %lmax : (tensor<16x96xf32>, tensor<16x1xf32>) -> tensor<16x96xf32>
  %lt = kiln.transpose %lsub {perm = array<i64: 1, 0>} : (tensor<16x96xf32>) -> tensor<96x16xf32>
  return %rope, %norm, %tr, %c3, %st, %tt, %mm, %lt : tensor<8x4x32xbf16>, tensor<16x96xbf16>, tensor<8x4x24xf32>, tensor<6x23xf32>, tensor<3x5xf32>, tensor<24x32xbf16>, tensor<16x16xf32>, tensor<96x16xf32>
}
