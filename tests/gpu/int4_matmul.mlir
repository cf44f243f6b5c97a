// int4 weights dequantized in the GEMM's loads (mma_int4_matmul): a
// kiln.dequantize of i4 in groups along K, read only as the K-major weight of
// a tensor-core GEMM, fuses into the GEMM's region, so the kernel copies the
// packed nibbles and the scales and dequantizes each B tile in shared memory
// (f32(q) * scale rounded once, as the op) before mma.sync. Against the CPU
// executor, which dequantizes and then multiplies: a batched activation folded
// into one GEMM with N past the 128-wide tile; K = 352 in groups of 64 (a
// partial last group of 32) with M and N not multiples of 128; a decode-sized
// M of 64 over K = 1024 (32 K tiles through the 6-stage ring); and "rows"
// grouped_matmuls (the experts' [E, N, K] weights) with an empty group
// possible and a tail of rows past the last offset that must come out zero.
func.func @main(%x: tensor<3x5x256xbf16> {kiln.name = "x"},
                %w: tensor<200x256xbf16> {kiln.name = "w"},
                %xk: tensor<70x352xbf16> {kiln.name = "xk"},
                %wk: tensor<130x352xbf16> {kiln.name = "wk"},
                %xd: tensor<64x1024xbf16> {kiln.name = "xd"},
                %wd: tensor<384x1024xbf16> {kiln.name = "wd"},
                %ids: tensor<300xi64> {kiln.name = "ids"},
                %gx: tensor<300x256xbf16> {kiln.name = "gx"},
                %gw: tensor<6x96x256xbf16> {kiln.name = "gw"})
    -> (tensor<3x5x200xbf16> {kiln.name = "folded"},
        tensor<70x130xbf16> {kiln.name = "partial_group"},
        tensor<64x384xbf16> {kiln.name = "decode"},
        tensor<300x96xbf16> {kiln.name = "experts"}) {
  %q, %s = kiln.quantize %w {block = array<i64: 1, 128>, dtype = i4} : (tensor<200x256xbf16>) -> (tensor<200x256xi4>, tensor<200x2xf32>)
  %wq = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<200x256xi4>, tensor<200x2xf32>) -> tensor<200x256xbf16>
  %y = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<3x5x256xbf16>, tensor<200x256xbf16>) -> tensor<3x5x200xbf16>
  %qk, %sk = kiln.quantize %wk {block = array<i64: 1, 64>, dtype = i4} : (tensor<130x352xbf16>) -> (tensor<130x352xi4>, tensor<130x6xf32>)
  %wkq = kiln.dequantize %qk, %sk {block = array<i64: 1, 64>, dtype = bf16} : (tensor<130x352xi4>, tensor<130x6xf32>) -> tensor<130x352xbf16>
  %yk = kiln.matmul %xk, %wkq {transpose_a = false, transpose_b = true} : (tensor<70x352xbf16>, tensor<130x352xbf16>) -> tensor<70x130xbf16>
  %qd, %sd = kiln.quantize %wd {block = array<i64: 1, 128>, dtype = i4} : (tensor<384x1024xbf16>) -> (tensor<384x1024xi4>, tensor<384x8xf32>)
  %wdq = kiln.dequantize %qd, %sd {block = array<i64: 1, 128>, dtype = bf16} : (tensor<384x1024xi4>, tensor<384x8xf32>) -> tensor<384x1024xbf16>
  %yd = kiln.matmul %xd, %wdq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
  // ids are drawn from {0..7}; counting only 6 groups leaves a zero tail.
  %counts = kiln.bincount %ids {length = 6 : i64} : (tensor<300xi64>) -> tensor<6xi64>
  %offsets = kiln.cumsum %counts {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<6xi64>) -> tensor<6xi64>
  %qg, %sg = kiln.quantize %gw {block = array<i64: 1, 1, 128>, dtype = i4} : (tensor<6x96x256xbf16>) -> (tensor<6x96x256xi4>, tensor<6x96x2xf32>)
  %gwq = kiln.dequantize %qg, %sg {block = array<i64: 1, 1, 128>, dtype = bf16} : (tensor<6x96x256xi4>, tensor<6x96x2xf32>) -> tensor<6x96x256xbf16>
  %g = kiln.grouped_matmul %gx, %gwq, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<300x256xbf16>, tensor<6x96x256xbf16>, tensor<6xi64>) -> tensor<300x96xbf16>
  return %y, %yk, %yd, %g : tensor<3x5x200xbf16>, tensor<70x130xbf16>, tensor<64x384xbf16>, tensor<300x96xbf16>
}
