// A batched wgmma GEMM storing its output transposed ([B, M, N] written as
// [M, B, N]: kiln-select-kernels moves the GEMM into the region of the
// transpose that read it, transposedStoreOf) against the CPU executor's
// copy: the absorbed MLA's attention output times W_UV, heads back beside
// each other for o_proj (A also read through its strided view); and f16
// with partial row and column tiles (M = 200, N = 72: the last pair of a
// row has one column).
func.func @main(%o: tensor<64x16x1x256xbf16> {kiln.name = "o"},
                %wuv: tensor<16x64x256xbf16> {kiln.name = "w_uv"},
                %wo: tensor<1024x1024xbf16> {kiln.name = "w_o"},
                %a: tensor<3x200x64xf16> {kiln.name = "a"},
                %b: tensor<3x64x72xf16> {kiln.name = "b"})
    -> (tensor<64x16x64xbf16> {kiln.name = "heads"},
        tensor<64x1024xbf16> {kiln.name = "o_proj"},
        tensor<200x3x72xf16> {kiln.name = "edges_f16"}) {
  %0 = kiln.reshape %o {shape = array<i64: 64, 16, 256>} : (tensor<64x16x1x256xbf16>) -> tensor<64x16x256xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x256xbf16>) -> tensor<16x64x256xbf16>
  %2 = kiln.matmul %1, %wuv {transpose_a = false, transpose_b = true} : (tensor<16x64x256xbf16>, tensor<16x64x256xbf16>) -> tensor<16x64x64xbf16>
  %3 = kiln.transpose %2 {perm = array<i64: 1, 0, 2>} : (tensor<16x64x64xbf16>) -> tensor<64x16x64xbf16>
  %4 = kiln.reshape %3 {shape = array<i64: 64, 1024>} : (tensor<64x16x64xbf16>) -> tensor<64x1024xbf16>
  %5 = kiln.matmul %4, %wo {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<1024x1024xbf16>) -> tensor<64x1024xbf16>
  %6 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<3x200x64xf16>, tensor<3x64x72xf16>) -> tensor<3x200x72xf16>
  %7 = kiln.transpose %6 {perm = array<i64: 1, 0, 2>} : (tensor<3x200x72xf16>) -> tensor<200x3x72xf16>
  return %3, %5, %7 : tensor<64x16x64xbf16>, tensor<64x1024xbf16>, tensor<200x3x72xf16>
}
