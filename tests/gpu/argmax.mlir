// kiln.argmax on its warp- or block-per-row kernel (ArgmaxKernel.cpp) against
// the CPU executor's sequential argmax, ids exact: a greedy decode's
// [64, 32000] f32 logits (a block a row); 5000-wide rows with planted ties
// (two equal maxima: the first), +inf, NaN after +inf (NaN wins), two NaNs
// (the first), +inf in the last column, and a row of all -inf (id 0);
// short bf16 rows (a warp a row) with NaN; f16 along a middle axis with
// keepdims.
func.func @main(%logits: tensor<64x32000xf32> {kiln.name = "logits"}, %x: tensor<6x5000xf32> {kiln.name = "x"},
                %s: tensor<37x100xbf16> {kiln.name = "s"}, %m: tensor<3x300x5xf16> {kiln.name = "m"})
    -> (tensor<64xi64> {kiln.name = "greedy"}, tensor<6xi64> {kiln.name = "planted"},
        tensor<37xi64> {kiln.name = "short_bf16"}, tensor<3x1x5xi64> {kiln.name = "middle_axis_f16"}) {
  %greedy = kiln.argmax %logits {axis = 1 : i64, keepdims = false} : (tensor<64x32000xf32>) -> tensor<64xi64>
  // Planted per row: (1e30, 1e30) at columns (100, 4000): 100; +inf at 50,
  // NaN at 777: 777; NaN at 3000 and 2999: 2999; +inf at 4999: 4999; 1e-30
  // at 0 and 1 (the random row's own max); row 5 all -inf: 0.
  %cols = kiln.constant {value = dense<[[100, 4000], [50, 777], [3000, 2999], [4999, 4999], [0, 1], [0, 0]]> : tensor<6x2xi64>} : () -> tensor<6x2xi64>
  %vals = kiln.constant {value = dense<[[1.0e+30, 1.0e+30], [0x7F800000, 0x7FC00000], [0x7FC00000, 0x7FC00000], [0x7F800000, 0x7F800000], [1.0e-30, 1.0e-30], [0xFF800000, 0xFF800000]]> : tensor<6x2xf32>} : () -> tensor<6x2xf32>
  %planted = kiln.put_along_axis %x, %cols, %vals {axis = 1 : i64} : (tensor<6x5000xf32>, tensor<6x2xi64>, tensor<6x2xf32>) -> tensor<6x5000xf32>
  %ninf = kiln.constant {value = dense<0xFF800000> : tensor<f32>} : () -> tensor<f32>
  %rowIds = kiln.iota {dimension = 0 : i64} : () -> tensor<6x5000xi64>
  %five = kiln.constant {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %isLast = kiln.equal %rowIds, %five : (tensor<6x5000xi64>, tensor<i64>) -> tensor<6x5000xi1>
  %xr = kiln.select %isLast, %ninf, %planted : (tensor<6x5000xi1>, tensor<f32>, tensor<6x5000xf32>) -> tensor<6x5000xf32>
  %am = kiln.argmax %xr {axis = -1 : i64, keepdims = false} : (tensor<6x5000xf32>) -> tensor<6xi64>
  %scols = kiln.constant {value = dense<[[7], [99], [0]]> : tensor<3x1xi64>} : () -> tensor<3x1xi64>
  %svals = kiln.constant {value = dense<[[0x7FC0], [0x7FC0], [0x7F80]]> : tensor<3x1xbf16>} : () -> tensor<3x1xbf16>
  %head = kiln.slice %s {start = array<i64: 0, 0>, limit = array<i64: 3, 100>, stride = array<i64: 1, 1>} : (tensor<37x100xbf16>) -> tensor<3x100xbf16>
  %sp = kiln.put_along_axis %head, %scols, %svals {axis = 1 : i64} : (tensor<3x100xbf16>, tensor<3x1xi64>, tensor<3x1xbf16>) -> tensor<3x100xbf16>
  %tail = kiln.slice %s {start = array<i64: 3, 0>, limit = array<i64: 37, 100>, stride = array<i64: 1, 1>} : (tensor<37x100xbf16>) -> tensor<34x100xbf16>
  %sj = kiln.concat %sp, %tail {axis = 0 : i64} : (tensor<3x100xbf16>, tensor<34x100xbf16>) -> tensor<37x100xbf16>
  %as = kiln.argmax %sj {axis = 1 : i64, keepdims = false} : (tensor<37x100xbf16>) -> tensor<37xi64>
  %amid = kiln.argmax %m {axis = 1 : i64, keepdims = true} : (tensor<3x300x5xf16>) -> tensor<3x1x5xi64>
  return %greedy, %am, %as, %amid : tensor<64xi64>, tensor<6xi64>, tensor<37xi64>, tensor<3x1x5xi64>
}
