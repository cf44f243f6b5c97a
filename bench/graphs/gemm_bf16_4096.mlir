// bf16 GEMM 4096x4096x4096 (f32 accumulation): the bench row against torch.matmul (cuBLAS).
func.func @gemm_bf16_4096(%a: tensor<4096x4096xbf16> {kiln.name = "a"}, %b: tensor<4096x4096xbf16> {kiln.name = "b"})
    -> (tensor<4096x4096xbf16> {kiln.name = "c"}) {
  %c = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<4096x4096xbf16>, tensor<4096x4096xbf16>) -> tensor<4096x4096xbf16>
  return %c : tensor<4096x4096xbf16>
}
