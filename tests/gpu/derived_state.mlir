// Derived state on the ptx target (kiln-hoist-derived-state): decode's norm
// cast and its int4 weight chain run once in kiln.derive_state, whose
// results are device-resident state; the executor reruns it after train
// writes the weights. kiln-run compares each entry's outputs and the derived
// states with the CPU executor's where both targets keep the same tensor: the
// ptx target keeps the int4 weight packed (its GEMM dequantizes it as it
// loads it) where the host keeps it dequantized, so that chain is compared
// through decode's y.
module attributes {kiln.state = [
    {name = "norm", type = tensor<256xbf16>, kind = "parameter", init = "ones"},
    {name = "proj", type = tensor<64x256xbf16>, kind = "parameter", init = "normal", a = 0.05, seed = 7}]} {
  func.func @decode(%x: tensor<4x256xf32> {kiln.name = "x"},
                    %n: tensor<256xbf16> {kiln.state = "norm"},
                    %w: tensor<64x256xbf16> {kiln.state = "proj"})
      -> (tensor<4x64xf32> {kiln.name = "y"}) {
    %nf = kiln.cast %n {to = f32} : (tensor<256xbf16>) -> tensor<256xf32>
    %h = kiln.mul %x, %nf : (tensor<4x256xf32>, tensor<256xf32>) -> tensor<4x256xf32>
    %hb = kiln.cast %h {to = bf16} : (tensor<4x256xf32>) -> tensor<4x256xbf16>
    %q, %s = kiln.quantize %w {block = array<i64: 1, 128>, dtype = i4} : (tensor<64x256xbf16>) -> (tensor<64x256xi4>, tensor<64x2xf32>)
    %wd = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<64x256xi4>, tensor<64x2xf32>) -> tensor<64x256xbf16>
    %y = kiln.matmul %hb, %wd {transpose_a = false, transpose_b = true} : (tensor<4x256xbf16>, tensor<64x256xbf16>) -> tensor<4x64xbf16>
    %yf = kiln.cast %y {to = f32} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
    return %yf : tensor<4x64xf32>
  }
  func.func @train(%g: tensor<64x256xf32> {kiln.name = "g"},
                   %n: tensor<256xbf16> {kiln.state = "norm"},
                   %w: tensor<64x256xbf16> {kiln.state = "proj"})
      -> (tensor<256xbf16> {kiln.state = "norm"},
          tensor<64x256xbf16> {kiln.state = "proj"}) {
    %wf = kiln.cast %w {to = f32} : (tensor<64x256xbf16>) -> tensor<64x256xf32>
    %w2 = kiln.sub %wf, %g : (tensor<64x256xf32>, tensor<64x256xf32>) -> tensor<64x256xf32>
    %wb = kiln.cast %w2 {to = bf16} : (tensor<64x256xf32>) -> tensor<64x256xbf16>
    %gs = kiln.sum %g {axes = array<i64: 0>, keepdims = false} : (tensor<64x256xf32>) -> tensor<256xf32>
    %nf = kiln.cast %n {to = f32} : (tensor<256xbf16>) -> tensor<256xf32>
    %n2 = kiln.add %nf, %gs : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
    %nb = kiln.cast %n2 {to = bf16} : (tensor<256xf32>) -> tensor<256xbf16>
    return %nb, %wb : tensor<256xbf16>, tensor<64x256xbf16>
  }
}
