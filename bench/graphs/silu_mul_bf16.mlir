// silu(g) * u on 2^28 bf16 elements (the SwiGLU gate): bandwidth-bound, 3 x 512 MiB
// of traffic; the bench row against torch.compile and the copy bandwidth.
func.func @silu_mul_bf16(%g: tensor<268435456xbf16> {kiln.name = "g"}, %u: tensor<268435456xbf16> {kiln.name = "u"})
    -> (tensor<268435456xbf16> {kiln.name = "h"}) {
  %s = kiln.silu %g : (tensor<268435456xbf16>) -> tensor<268435456xbf16>
  %h = kiln.mul %s, %u : (tensor<268435456xbf16>, tensor<268435456xbf16>) -> tensor<268435456xbf16>
  return %h : tensor<268435456xbf16>
}
