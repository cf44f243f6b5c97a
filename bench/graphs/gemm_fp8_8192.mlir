// fp8 GEMM 8192x8192x8192 with DeepSeek-V3's block scales: a [M, K] E4M3 in
// 1x128 tiles, b [N, K] E4M3 in 128x128 blocks, f32 promotion every 128 along
// K, bf16 out. The bench row against torch._scaled_mm with the same blockwise
// scales (cuBLASLt on SM90).
func.func @gemm_fp8_8192(%a: tensor<8192x8192xf8E4M3FN> {kiln.name = "a"},
                         %sa: tensor<8192x64xf32> {kiln.name = "a_scale"},
                         %b: tensor<8192x8192xf8E4M3FN> {kiln.name = "b"},
                         %sb: tensor<64x64xf32> {kiln.name = "b_scale"})
    -> (tensor<8192x8192xbf16> {kiln.name = "c"}) {
  %c = kiln.scaled_matmul %a, %sa, %b, %sb {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = bf16} : (tensor<8192x8192xf8E4M3FN>, tensor<8192x64xf32>, tensor<8192x8192xf8E4M3FN>, tensor<64x64xf32>) -> tensor<8192x8192xbf16>
  return %c : tensor<8192x8192xbf16>
}
