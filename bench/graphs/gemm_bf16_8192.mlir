// bf16 GEMM 8192x8192x8192 (f32 accumulation): the bench row against torch.matmul (cuBLAS).
func.func @gemm_bf16_8192(%a: tensor<8192x8192xbf16> {kiln.name = "a"}, %b: tensor<8192x8192xbf16> {kiln.name = "b"})
    -> (tensor<8192x8192xbf16> {kiln.name = "c"}) {
  %c = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<8192x8192xbf16>, tensor<8192x8192xbf16>) -> tensor<8192x8192xbf16>
  return %c : tensor<8192x8192xbf16>
}
