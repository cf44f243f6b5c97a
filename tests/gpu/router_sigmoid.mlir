// A sigmoid applied by the CUDA-core matmul as it stores (kiln-select-kernels
// moves the f32 simt_matmul into the sigmoid's region: simtMatmulOf) against
// the CPU executor: a DeepSeek router's scores at decode (the bf16 hidden
// state widened as it is loaded, a warp per output) and a tiled product
// (300 x 48 outputs over K = 64, partial tiles).
func.func @main(%x: tensor<64x1024xbf16> {kiln.name = "x"},
                %w: tensor<32x1024xf32> {kiln.name = "w"},
                %a: tensor<300x64xf32> {kiln.name = "a"},
                %b: tensor<64x48xf32> {kiln.name = "b"})
    -> (tensor<64x32xf32> {kiln.name = "scores"},
        tensor<300x48xf32> {kiln.name = "tiled"}) {
  %0 = kiln.cast %x {to = f32} : (tensor<64x1024xbf16>) -> tensor<64x1024xf32>
  %1 = kiln.matmul %0, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xf32>, tensor<32x1024xf32>) -> tensor<64x32xf32>
  %2 = kiln.sigmoid %1 : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %3 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<300x64xf32>, tensor<64x48xf32>) -> tensor<300x48xf32>
  %4 = kiln.sigmoid %3 : (tensor<300x48xf32>) -> tensor<300x48xf32>
  return %2, %4 : tensor<64x32xf32>, tensor<300x48xf32>
}
