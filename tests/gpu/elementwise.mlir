// Elementwise ops, broadcasting, comparisons, select and casts at a shape that is
// not a multiple of the 256-thread tile. Compiled into a bundle by run_on_gpu.sh.
func.func @main(%a: tensor<37x129xf32> {kiln.name = "a"}, %b: tensor<129xf32> {kiln.name = "b"},
                %h: tensor<1000xbf16> {kiln.name = "h"}, %i: tensor<37x129xi64> {kiln.name = "i"})
    -> (tensor<37x129xf32> {kiln.name = "unary"}, tensor<37x129xf32> {kiln.name = "binary"},
        tensor<37x129xf32> {kiln.name = "selected"}, tensor<1000xbf16> {kiln.name = "bf16_gelu"},
        tensor<37x129xi32> {kiln.name = "to_i32"}, tensor<37x129xf32> {kiln.name = "from_i64"},
        tensor<37x129xi64> {kiln.name = "int_ops"}, tensor<1000xf32> {kiln.name = "bf16_up"}) {
  %e = kiln.exp %a : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %t = kiln.tanh %e : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %s = kiln.sigmoid %t : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %si = kiln.silu %a : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %g = kiln.gelu %si : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %sn = kiln.sin %g : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %c = kiln.cos %sn : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %ab = kiln.abs %a : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %sq = kiln.sqrt %ab : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %lg = kiln.log %e : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %er = kiln.erf %lg : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %sg = kiln.sign %a : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %n = kiln.neg %sg : (tensor<37x129xf32>) -> tensor<37x129xf32>
  %u1 = kiln.add %s, %c : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %u2 = kiln.mul %u1, %sq : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %u3 = kiln.sub %u2, %er : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %unary = kiln.add %u3, %n : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %d = kiln.div %a, %b : (tensor<37x129xf32>, tensor<129xf32>) -> tensor<37x129xf32>
  %mx = kiln.maximum %d, %b : (tensor<37x129xf32>, tensor<129xf32>) -> tensor<37x129xf32>
  %mn = kiln.minimum %mx, %a : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %ea = kiln.exp %b : (tensor<129xf32>) -> tensor<129xf32>
  %p = kiln.pow %ea, %a : (tensor<129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %binary = kiln.sub %mn, %p : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %lt = kiln.less %a, %b : (tensor<37x129xf32>, tensor<129xf32>) -> tensor<37x129xi1>
  %ge = kiln.greater_equal %a, %e : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xi1>
  %or = kiln.logical_or %lt, %ge : (tensor<37x129xi1>, tensor<37x129xi1>) -> tensor<37x129xi1>
  %not = kiln.logical_not %or : (tensor<37x129xi1>) -> tensor<37x129xi1>
  %selected = kiln.select %not, %a, %b : (tensor<37x129xi1>, tensor<37x129xf32>, tensor<129xf32>) -> tensor<37x129xf32>
  %bg = kiln.gelu %h : (tensor<1000xbf16>) -> tensor<1000xbf16>
  %scaled = kiln.mul %a, %e : (tensor<37x129xf32>, tensor<37x129xf32>) -> tensor<37x129xf32>
  %to_i32 = kiln.cast %scaled {to = i32} : (tensor<37x129xf32>) -> tensor<37x129xi32>
  %from_i64 = kiln.cast %i {to = f32} : (tensor<37x129xi64>) -> tensor<37x129xf32>
  %i2 = kiln.mul %i, %i : (tensor<37x129xi64>, tensor<37x129xi64>) -> tensor<37x129xi64>
  %i3 = kiln.div %i2, %i : (tensor<37x129xi64>, tensor<37x129xi64>) -> tensor<37x129xi64>
  %int_ops = kiln.sub %i3, %i : (tensor<37x129xi64>, tensor<37x129xi64>) -> tensor<37x129xi64>
  %bf16_up = kiln.cast %bg {to = f32} : (tensor<1000xbf16>) -> tensor<1000xf32>
  return %unary, %binary, %selected, %bg, %to_i32, %from_i64, %int_ops, %bf16_up : tensor<37x129xf32>, tensor<37x129xf32>, tensor<37x129xf32>, tensor<1000xbf16>, tensor<37x129xi32>, tensor<37x129xf32>, tensor<37x129xi64>, tensor<1000xf32>
}
