// Selection, scans, scatters, MoE grouped matmuls and random ops on the ptx target,
// in f32 and bf16, at sizes that are not multiples of the tile. Row gathers
// (axis 0 of a matrix, 16-byte rows: the MoE dispatch) move 16 bytes a thread.
func.func @main(%x: tensor<6x37xf32> {kiln.name = "x"}, %xb: tensor<6x37xbf16> {kiln.name = "xb"},
                %ids: tensor<40xi64> {kiln.name = "ids"}, %upd: tensor<3x5xf32> {kiln.name = "upd"},
                %start: tensor<2xi64> {kiln.name = "start"}, %rows: tensor<19x12xf32> {kiln.name = "rows"},
                %w: tensor<8x12x9xf32> {kiln.name = "w"}, %dy: tensor<19x9xf32> {kiln.name = "dy"},
                %key: tensor<i64> {kiln.name = "key"}, %su: tensor<6x40xf32> {kiln.name = "su"},
                %gb: tensor<8x24xbf16> {kiln.name = "gb"}, %gf: tensor<8x12xf32> {kiln.name = "gf"})
    -> (tensor<6xi64> {kiln.name = "argmax"}, tensor<6x37xf32> {kiln.name = "cumsum"},
        tensor<6x37xf32> {kiln.name = "cumsum_rev_excl"}, tensor<40x8xf32> {kiln.name = "one_hot"},
        tensor<8xi64> {kiln.name = "bincount"}, tensor<6x37xf32> {kiln.name = "dus"},
        tensor<6x8xf32> {kiln.name = "scatter_add"}, tensor<19x9xf32> {kiln.name = "grouped_rows"},
        tensor<8x12x9xf32> {kiln.name = "grouped_contract"}, tensor<6x5xf32> {kiln.name = "topk_values"},
        tensor<6x5xi64> {kiln.name = "topk_indices"}, tensor<6x37xbf16> {kiln.name = "sort_bf16"},
        tensor<6x37xi64> {kiln.name = "argsort"}, tensor<6x40xf32> {kiln.name = "uniform"},
        tensor<7x11xf32> {kiln.name = "normal"}, tensor<6xi64> {kiln.name = "categorical"},
        tensor<6xf32> {kiln.name = "logsumexp"}, tensor<6xbf16> {kiln.name = "sum_bf16"},
        tensor<6x9xbf16> {kiln.name = "matmul_bf16"},
        tensor<40x24xbf16> {kiln.name = "row_gather_bf16"}, tensor<40x12xf32> {kiln.name = "row_gather_f32"}) {
  %am = kiln.argmax %x {axis = 1 : i64, keepdims = false} : (tensor<6x37xf32>) -> tensor<6xi64>
  %cs = kiln.cumsum %x {axis = 1 : i64, exclusive = false, reverse = false} : (tensor<6x37xf32>) -> tensor<6x37xf32>
  %cr = kiln.cumsum %x {axis = -1 : i64, exclusive = true, reverse = true} : (tensor<6x37xf32>) -> tensor<6x37xf32>
  %oh = kiln.one_hot %ids {depth = 8 : i64, dtype = f32} : (tensor<40xi64>) -> tensor<40x8xf32>
  %bc = kiln.bincount %ids {length = 8 : i64} : (tensor<40xi64>) -> tensor<8xi64>
  %dus = kiln.dynamic_update_slice %x, %upd, %start : (tensor<6x37xf32>, tensor<3x5xf32>, tensor<2xi64>) -> tensor<6x37xf32>
  %z = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 6, 8>, stride = array<i64: 1, 1>} : (tensor<6x37xf32>) -> tensor<6x8xf32>
  %idx5 = kiln.slice %ids {start = array<i64: 0>, limit = array<i64: 5>, stride = array<i64: 1>} : (tensor<40xi64>) -> tensor<5xi64>
  %u5 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 6, 5>, stride = array<i64: 1, 1>} : (tensor<6x37xf32>) -> tensor<6x5xf32>
  %sa = kiln.scatter_add %z, %idx5, %u5 {axis = 1 : i64} : (tensor<6x8xf32>, tensor<5xi64>, tensor<6x5xf32>) -> tensor<6x8xf32>
  %ids19 = kiln.slice %ids {start = array<i64: 0>, limit = array<i64: 19>, stride = array<i64: 1>} : (tensor<40xi64>) -> tensor<19xi64>
  %counts = kiln.bincount %ids19 {length = 8 : i64} : (tensor<19xi64>) -> tensor<8xi64>
  %offsets = kiln.cumsum %counts {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<8xi64>) -> tensor<8xi64>
  %gr = kiln.grouped_matmul %rows, %w, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<19x12xf32>, tensor<8x12x9xf32>, tensor<8xi64>) -> tensor<19x9xf32>
  %gc = kiln.grouped_matmul %rows, %dy, %offsets {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<19x12xf32>, tensor<19x9xf32>, tensor<8xi64>) -> tensor<8x12x9xf32>
  %tv, %ti = kiln.topk %x {k = 5 : i64} : (tensor<6x37xf32>) -> (tensor<6x5xf32>, tensor<6x5xi64>)
  %sb = kiln.sort %xb {axis = 1 : i64, descending = false} : (tensor<6x37xbf16>) -> tensor<6x37xbf16>
  %as = kiln.argsort %xb {axis = 1 : i64, descending = true} : (tensor<6x37xbf16>) -> tensor<6x37xi64>
  %ru = kiln.random_uniform %key : (tensor<i64>) -> tensor<6x40xf32>
  %rn = kiln.random_normal %key : (tensor<i64>) -> tensor<7x11xf32>
  %rc = kiln.random_categorical %key, %su : (tensor<i64>, tensor<6x40xf32>) -> tensor<6xi64>
  %lse = kiln.logsumexp %x {axes = array<i64: 1>, keepdims = false} : (tensor<6x37xf32>) -> tensor<6xf32>
  %sbf = kiln.sum %xb {axes = array<i64: 1>, keepdims = false} : (tensor<6x37xbf16>) -> tensor<6xbf16>
  %wb = kiln.slice %xb {start = array<i64: 0, 0>, limit = array<i64: 6, 9>, stride = array<i64: 1, 1>} : (tensor<6x37xbf16>) -> tensor<6x9xbf16>
  %mm = kiln.matmul %xb, %wb {transpose_a = true, transpose_b = false} : (tensor<6x37xbf16>, tensor<6x9xbf16>) -> tensor<37x9xbf16>
  %mm6 = kiln.slice %mm {start = array<i64: 0, 0>, limit = array<i64: 6, 9>, stride = array<i64: 1, 1>} : (tensor<37x9xbf16>) -> tensor<6x9xbf16>
  %rg = kiln.gather %gb, %ids {axis = 0 : i64} : (tensor<8x24xbf16>, tensor<40xi64>) -> tensor<40x24xbf16>
  %rf = kiln.gather %gf, %ids {axis = 0 : i64} : (tensor<8x12xf32>, tensor<40xi64>) -> tensor<40x12xf32>
  return %am, %cs, %cr, %oh, %bc, %dus, %sa, %gr, %gc, %tv, %ti, %sb, %as, %ru, %rn, %rc, %lse, %sbf, %mm6, %rg, %rf : tensor<6xi64>, tensor<6x37xf32>, tensor<6x37xf32>, tensor<40x8xf32>, tensor<8xi64>, tensor<6x37xf32>, tensor<6x8xf32>, tensor<19x9xf32>, tensor<8x12x9xf32>, tensor<6x5xf32>, tensor<6x5xi64>, tensor<6x37xbf16>, tensor<6x37xi64>, tensor<6x40xf32>, tensor<7x11xf32>, tensor<6xi64>, tensor<6xf32>, tensor<6xbf16>, tensor<6x9xbf16>, tensor<40x24xbf16>, tensor<40x12xf32>
}
