// Tensor-core matmuls (bf16/f16; wgmma + TMA on Hopper, mma.sync with --wgmma=false):
// every transpose combination, batched and broadcast operands (a batched A against a
// shared B folds into one matmul), sizes that are not multiples of the tile
// (contiguous dims multiples of 8, which the 16-byte copies need), and one large
// square case that exercises many K steps and blocks. Grouped "rows" matmuls
// (the MoE expert GEMM) with groups spanning several 128-row tiles, empty groups
// possible, and a tail of rows past the last offset that must come out zero.
// Grouped "contract" matmuls (the expert weight gradient, wgmma only): groups
// that end mid-tile (the next group's rows must not count), empty groups, and
// M/N that are not multiples of the 128 x 256 tile.
func.func @main(%a: tensor<200x264xbf16> {kiln.name = "a"}, %b: tensor<264x136xbf16> {kiln.name = "b"},
                %at: tensor<264x200xbf16> {kiln.name = "at"}, %bt: tensor<136x264xbf16> {kiln.name = "bt"},
                %ba: tensor<3x40x72xbf16> {kiln.name = "ba"}, %bb: tensor<3x72x24xbf16> {kiln.name = "bb"},
                %w: tensor<72x16xbf16> {kiln.name = "w"},
                %ha: tensor<33x48xf16> {kiln.name = "ha"}, %hb: tensor<48x8xf16> {kiln.name = "hb"},
                %sa: tensor<512x1024xbf16> {kiln.name = "sa"}, %sb: tensor<1024x384xbf16> {kiln.name = "sb"},
                %ids: tensor<1100xi64> {kiln.name = "ids"}, %gx: tensor<1100x64xbf16> {kiln.name = "gx"},
                %gw: tensor<6x64x72xbf16> {kiln.name = "gw"}, %gwt: tensor<6x72x64xbf16> {kiln.name = "gwt"},
                %gy: tensor<1100x72xbf16> {kiln.name = "gy"}, %cx: tensor<1100x136xbf16> {kiln.name = "cx"},
                %cy: tensor<1100x264xbf16> {kiln.name = "cy"}, %dx: tensor<6x1x264xbf16> {kiln.name = "dx"})
    -> (tensor<200x136xbf16> {kiln.name = "nn"}, tensor<200x136xbf16> {kiln.name = "tn"},
        tensor<200x136xbf16> {kiln.name = "nt"}, tensor<200x136xbf16> {kiln.name = "tt"},
        tensor<3x40x24xbf16> {kiln.name = "batched"}, tensor<3x40x16xbf16> {kiln.name = "broadcast_b"},
        tensor<33x8xf16> {kiln.name = "f16"}, tensor<512x384xbf16> {kiln.name = "large"},
        tensor<1100x72xbf16> {kiln.name = "grouped"}, tensor<1100x72xbf16> {kiln.name = "grouped_t"},
        tensor<6x64x72xbf16> {kiln.name = "contract"}, tensor<6x136x264xbf16> {kiln.name = "contract_wide"},
        tensor<6x1x136xbf16> {kiln.name = "decode_rows"}) {
  %nn = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<200x264xbf16>, tensor<264x136xbf16>) -> tensor<200x136xbf16>
  %tn = kiln.matmul %at, %b {transpose_a = true, transpose_b = false} : (tensor<264x200xbf16>, tensor<264x136xbf16>) -> tensor<200x136xbf16>
  %nt = kiln.matmul %a, %bt {transpose_a = false, transpose_b = true} : (tensor<200x264xbf16>, tensor<136x264xbf16>) -> tensor<200x136xbf16>
  %tt = kiln.matmul %at, %bt {transpose_a = true, transpose_b = true} : (tensor<264x200xbf16>, tensor<136x264xbf16>) -> tensor<200x136xbf16>
  %bm = kiln.matmul %ba, %bb {transpose_a = false, transpose_b = false} : (tensor<3x40x72xbf16>, tensor<3x72x24xbf16>) -> tensor<3x40x24xbf16>
  %bw = kiln.matmul %ba, %w {transpose_a = false, transpose_b = false} : (tensor<3x40x72xbf16>, tensor<72x16xbf16>) -> tensor<3x40x16xbf16>
  %h = kiln.matmul %ha, %hb {transpose_a = false, transpose_b = false} : (tensor<33x48xf16>, tensor<48x8xf16>) -> tensor<33x8xf16>
  %l = kiln.matmul %sa, %sb {transpose_a = false, transpose_b = false} : (tensor<512x1024xbf16>, tensor<1024x384xbf16>) -> tensor<512x384xbf16>
  // ids are drawn from {0..7}; counting only 6 groups leaves a zero tail.
  %counts = kiln.bincount %ids {length = 6 : i64} : (tensor<1100xi64>) -> tensor<6xi64>
  %offsets = kiln.cumsum %counts {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<6xi64>) -> tensor<6xi64>
  %g = kiln.grouped_matmul %gx, %gw, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<1100x64xbf16>, tensor<6x64x72xbf16>, tensor<6xi64>) -> tensor<1100x72xbf16>
  %gt = kiln.grouped_matmul %gx, %gwt, %offsets {mode = #kiln.grouped_mode<rows>, transpose_w = true} : (tensor<1100x64xbf16>, tensor<6x72x64xbf16>, tensor<6xi64>) -> tensor<1100x72xbf16>
  %gc = kiln.grouped_matmul %gx, %gy, %offsets {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<1100x64xbf16>, tensor<1100x72xbf16>, tensor<6xi64>) -> tensor<6x64x72xbf16>
  %cw = kiln.grouped_matmul %cx, %cy, %offsets {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<1100x136xbf16>, tensor<1100x264xbf16>, tensor<6xi64>) -> tensor<6x136x264xbf16>
  %dr = kiln.matmul %dx, %b {transpose_a = false, transpose_b = false} : (tensor<6x1x264xbf16>, tensor<264x136xbf16>) -> tensor<6x1x136xbf16>
  return %nn, %tn, %nt, %tt, %bm, %bw, %h, %l, %g, %gt, %gc, %cw, %dr : tensor<200x136xbf16>, tensor<200x136xbf16>, tensor<200x136xbf16>, tensor<200x136xbf16>, tensor<3x40x24xbf16>, tensor<3x40x16xbf16>, tensor<33x8xf16>, tensor<512x384xbf16>, tensor<1100x72xbf16>, tensor<1100x72xbf16>, tensor<6x64x72xbf16>, tensor<6x136x264xbf16>, tensor<6x1x136xbf16>
}
