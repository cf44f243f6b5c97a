// A SwiGLU MLP's two projections and gated product on one wgmma launch
// (the region kiln-select-kernels forms; passes/GatedMatmuls.h) against
// the CPU executor's two matmuls, silu and mul, each rounding to the element
// type. The 465M bench model's decode shapes: a shared expert ([64, 1, 1024]
// by two [512, 1024] weights) and the dense layer's 2816-wide MLP; and f16
// with two row tiles (M = 130), K = 200 and N = 72 read from N-major
// weights, the gate on the mul's right.
func.func @main(%x: tensor<64x1x1024xbf16> {kiln.name = "x"},
                %wg: tensor<512x1024xbf16> {kiln.name = "w_gate"},
                %wu: tensor<512x1024xbf16> {kiln.name = "w_up"},
                %dg: tensor<2816x1024xbf16> {kiln.name = "dense_gate"},
                %du: tensor<2816x1024xbf16> {kiln.name = "dense_up"},
                %y: tensor<130x200xf16> {kiln.name = "y"},
                %vg: tensor<200x72xf16> {kiln.name = "v_gate"},
                %vu: tensor<200x72xf16> {kiln.name = "v_up"})
    -> (tensor<64x1x512xbf16> {kiln.name = "shared_expert"},
        tensor<64x1x2816xbf16> {kiln.name = "dense_mlp"},
        tensor<130x72xf16> {kiln.name = "f16_n_major"}) {
  %u = kiln.matmul %x, %wu {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
  %g = kiln.matmul %x, %wg {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<512x1024xbf16>) -> tensor<64x1x512xbf16>
  %s = kiln.silu %g : (tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
  %a = kiln.mul %s, %u : (tensor<64x1x512xbf16>, tensor<64x1x512xbf16>) -> tensor<64x1x512xbf16>
  %u2 = kiln.matmul %x, %du {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<2816x1024xbf16>) -> tensor<64x1x2816xbf16>
  %g2 = kiln.matmul %x, %dg {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xbf16>, tensor<2816x1024xbf16>) -> tensor<64x1x2816xbf16>
  %s2 = kiln.silu %g2 : (tensor<64x1x2816xbf16>) -> tensor<64x1x2816xbf16>
  %a2 = kiln.mul %s2, %u2 : (tensor<64x1x2816xbf16>, tensor<64x1x2816xbf16>) -> tensor<64x1x2816xbf16>
  %g3 = kiln.matmul %y, %vg {transpose_a = false, transpose_b = false} : (tensor<130x200xf16>, tensor<200x72xf16>) -> tensor<130x72xf16>
  %u3 = kiln.matmul %y, %vu {transpose_a = false, transpose_b = false} : (tensor<130x200xf16>, tensor<200x72xf16>) -> tensor<130x72xf16>
  %s3 = kiln.silu %g3 : (tensor<130x72xf16>) -> tensor<130x72xf16>
  %a3 = kiln.mul %u3, %s3 : (tensor<130x72xf16>, tensor<130x72xf16>) -> tensor<130x72xf16>
  return %a, %a2, %a3 : tensor<64x1x512xbf16>, tensor<64x1x2816xbf16>, tensor<130x72xf16>
}
