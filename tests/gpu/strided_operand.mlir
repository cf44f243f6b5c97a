// A wgmma GEMM reading A in place through a strided view (kiln-select-kernels
// absorbs the remap region that wrote A into the GEMM's region; the tensor
// map takes the view's strides) against the CPU executor's copies. The
// absorbed MLA's two head-major operands of a decode step: q's no-RoPE part
// ([64, 1, 1536] as 16 heads of 96, the first 64 of each, heads first) times
// W_UK, and the attention output ([64, 16, 1, 256] heads first) times W_UV;
// and a slice of rows past the first element is not absorbed (offset): the
// copy stays and the GEMM still agrees.
func.func @main(%q: tensor<64x1x1536xbf16> {kiln.name = "q"},
                %wuk: tensor<16x64x256xbf16> {kiln.name = "w_uk"},
                %o: tensor<64x16x1x256xbf16> {kiln.name = "o"},
                %wuv: tensor<16x64x256xbf16> {kiln.name = "w_uv"},
                %x: tensor<80x128xbf16> {kiln.name = "x"},
                %w: tensor<128x64xbf16> {kiln.name = "w"})
    -> (tensor<16x64x256xbf16> {kiln.name = "q_absorbed"},
        tensor<16x64x64xbf16> {kiln.name = "o_values"},
        tensor<64x64xbf16> {kiln.name = "offset_rows"}) {
  %0 = kiln.reshape %q {shape = array<i64: 64, 1, 16, 96>} : (tensor<64x1x1536xbf16>) -> tensor<64x1x16x96xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 1, 3>} : (tensor<64x1x16x96xbf16>) -> tensor<64x16x1x96xbf16>
  %2 = kiln.slice %1 {limit = array<i64: 64, 16, 1, 64>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>} : (tensor<64x16x1x96xbf16>) -> tensor<64x16x1x64xbf16>
  %3 = kiln.reshape %2 {shape = array<i64: 64, 16, 64>} : (tensor<64x16x1x64xbf16>) -> tensor<64x16x64xbf16>
  %4 = kiln.transpose %3 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x64xbf16>) -> tensor<16x64x64xbf16>
  %5 = kiln.matmul %4, %wuk {transpose_a = false, transpose_b = false} : (tensor<16x64x64xbf16>, tensor<16x64x256xbf16>) -> tensor<16x64x256xbf16>
  %6 = kiln.reshape %o {shape = array<i64: 64, 16, 256>} : (tensor<64x16x1x256xbf16>) -> tensor<64x16x256xbf16>
  %7 = kiln.transpose %6 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x256xbf16>) -> tensor<16x64x256xbf16>
  %8 = kiln.matmul %7, %wuv {transpose_a = false, transpose_b = true} : (tensor<16x64x256xbf16>, tensor<16x64x256xbf16>) -> tensor<16x64x64xbf16>
  %9 = kiln.slice %x {limit = array<i64: 80, 128>, start = array<i64: 16, 0>, stride = array<i64: 1, 1>} : (tensor<80x128xbf16>) -> tensor<64x128xbf16>
  %10 = kiln.matmul %9, %w {transpose_a = false, transpose_b = false} : (tensor<64x128xbf16>, tensor<128x64xbf16>) -> tensor<64x64xbf16>
  return %5, %8, %10 : tensor<16x64x256xbf16>, tensor<16x64x64xbf16>, tensor<64x64xbf16>
}
