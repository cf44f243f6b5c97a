// fp8 on the ptx target: casts both ways with round-to-nearest-even and
// saturation (inputs are scaled past the largest finite value), and arithmetic,
// a reduction and a matmul on fp8 operands computed in f32.
func.func @main(%x: tensor<33x17xf32> {kiln.name = "x"}, %e4: tensor<33x17xf8E4M3FN> {kiln.name = "e4"},
                %e5: tensor<17xf8E5M2> {kiln.name = "e5"})
    -> (tensor<33x17xf8E4M3FN> {kiln.name = "to_e4m3"}, tensor<33x17xf8E5M2> {kiln.name = "to_e5m2"},
        tensor<33x17xf32> {kiln.name = "from_e4m3"}, tensor<33x17xf8E4M3FN> {kiln.name = "mul_e4m3"},
        tensor<33xf32> {kiln.name = "sum_e4m3"}, tensor<33x33xf8E4M3FN> {kiln.name = "matmul_e4m3"},
        tensor<17xbf16> {kiln.name = "e5m2_to_bf16"}) {
  %scale = kiln.constant {value = dense<3.0e+02> : tensor<f32>} : () -> tensor<f32>
  %big = kiln.mul %x, %scale : (tensor<33x17xf32>, tensor<f32>) -> tensor<33x17xf32>
  %to_e4m3 = kiln.cast %big {to = f8E4M3FN} : (tensor<33x17xf32>) -> tensor<33x17xf8E4M3FN>
  %huge = kiln.mul %big, %big : (tensor<33x17xf32>, tensor<33x17xf32>) -> tensor<33x17xf32>
  %to_e5m2 = kiln.cast %huge {to = f8E5M2} : (tensor<33x17xf32>) -> tensor<33x17xf8E5M2>
  %from_e4m3 = kiln.cast %e4 {to = f32} : (tensor<33x17xf8E4M3FN>) -> tensor<33x17xf32>
  %mul = kiln.mul %e4, %to_e4m3 : (tensor<33x17xf8E4M3FN>, tensor<33x17xf8E4M3FN>) -> tensor<33x17xf8E4M3FN>
  %sum = kiln.cast %e4 {to = f32} : (tensor<33x17xf8E4M3FN>) -> tensor<33x17xf32>
  %s = kiln.sum %sum {axes = array<i64: 1>, keepdims = false} : (tensor<33x17xf32>) -> tensor<33xf32>
  %mm = kiln.matmul %e4, %e4 {transpose_a = false, transpose_b = true} : (tensor<33x17xf8E4M3FN>, tensor<33x17xf8E4M3FN>) -> tensor<33x33xf8E4M3FN>
  %b = kiln.cast %e5 {to = bf16} : (tensor<17xf8E5M2>) -> tensor<17xbf16>
  return %to_e4m3, %to_e5m2, %from_e4m3, %mul, %s, %mm, %b : tensor<33x17xf8E4M3FN>, tensor<33x17xf8E5M2>, tensor<33x17xf32>, tensor<33x17xf8E4M3FN>, tensor<33xf32>, tensor<33x33xf8E4M3FN>, tensor<17xbf16>
}
