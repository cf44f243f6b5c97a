// The ops with kernels written in the gpu dialect (DirectKernel.h): the bitonic
// sort in shared memory up to 8192-element rows (dynamic shared memory past
// 48 KiB), past it the in-place argsort across blocks (the MoE dispatch's
// 24,576 expert ids among them; a long row along a non-trailing axis) and the
// rank-scatter sort/top-k, sorts along a non-trailing axis,
// integer keys full of ties (stability), block scans over long rows, atomic
// scatter_add with many duplicate indices (bf16/f16 rows of even length as
// packed pairs), and categorical sampling (a warp per
// short row, a block per vocabulary-wide row; one key for the tensor or one
// per row).
func.func @main(%a: tensor<300x7xf32> {kiln.name = "a"}, %ties: tensor<4x1000xi64> {kiln.name = "ties"},
                %wide: tensor<3x9000xf32> {kiln.name = "wide"}, %b: tensor<2x8192xbf16> {kiln.name = "b"},
                %d: tensor<5x5000xf64> {kiln.name = "d"}, %ints: tensor<1000x3xi32> {kiln.name = "ints"},
                %base: tensor<50x16xf32> {kiln.name = "base"}, %idx: tensor<3000xi64> {kiln.name = "idx"},
                %upd: tensor<3000x16xf32> {kiln.name = "upd"}, %basei: tensor<50x16xi64> {kiln.name = "basei"},
                %updi: tensor<3000x16xi64> {kiln.name = "updi"}, %key: tensor<i64> {kiln.name = "key"},
                %logits: tensor<64x1000xf32> {kiln.name = "logits"}, %lb: tensor<5x33xbf16> {kiln.name = "lb"},
                %longties: tensor<2x10000xi64> {kiln.name = "longties"}, %baseb: tensor<50x16xbf16> {kiln.name = "baseb"},
                %idxb: tensor<120xi64> {kiln.name = "idxb"}, %updb: tensor<120x16xbf16> {kiln.name = "updb"},
                %vocab: tensor<3x32000xbf16> {kiln.name = "vocab"},
                %pairs: tensor<24576xi64> {kiln.name = "pairs"}, %cols: tensor<9000x2xf32> {kiln.name = "cols"},
                %rowkeys: tensor<64xi64> {kiln.name = "rowkeys"}, %vocabkeys: tensor<3xi64> {kiln.name = "vocabkeys"},
                %baseh: tensor<20x6xf16> {kiln.name = "baseh"}, %idxh: tensor<40xi64> {kiln.name = "idxh"},
                %updh: tensor<40x6xf16> {kiln.name = "updh"}, %baseo: tensor<20x5xbf16> {kiln.name = "baseo"},
                %updo: tensor<40x5xbf16> {kiln.name = "updo"})
    -> (tensor<300x7xf32> {kiln.name = "sort_axis0_desc"}, tensor<4x1000xi64> {kiln.name = "argsort_ties"},
        tensor<3x10xf32> {kiln.name = "topk_wide_values"}, tensor<3x10xi64> {kiln.name = "topk_wide_indices"},
        tensor<3x9000xi64> {kiln.name = "argsort_wide"}, tensor<2x8192xbf16> {kiln.name = "sort_bf16_8192"},
        tensor<5x5000xf64> {kiln.name = "sort_f64_desc"}, tensor<5x7xf64> {kiln.name = "topk_f64"},
        tensor<3x9000xf32> {kiln.name = "cumsum_wide"}, tensor<1000x3xi32> {kiln.name = "cumsum_axis0_rev_excl"},
        tensor<5x5000xf64> {kiln.name = "cumsum_f64"}, tensor<50x16xf32> {kiln.name = "scatter_add_f32"},
        tensor<50x16xi64> {kiln.name = "scatter_add_i64"}, tensor<64xi64> {kiln.name = "categorical"},
        tensor<5xi64> {kiln.name = "categorical_bf16"}, tensor<2x10000xi64> {kiln.name = "argsort_long_ties"},
        tensor<50x16xbf16> {kiln.name = "scatter_add_bf16"}, tensor<3xi64> {kiln.name = "categorical_vocab"},
        tensor<24576xi64> {kiln.name = "argsort_dispatch"}, tensor<9000x2xi64> {kiln.name = "argsort_axis0"},
        tensor<64xi64> {kiln.name = "categorical_row_keys"}, tensor<3xi64> {kiln.name = "categorical_vocab_row_keys"},
        tensor<20x6xf16> {kiln.name = "scatter_add_f16_pairs"}, tensor<20x5xbf16> {kiln.name = "scatter_add_bf16_odd_rows"}) {
  %s0 = kiln.sort %a {axis = 0 : i64, descending = true} : (tensor<300x7xf32>) -> tensor<300x7xf32>
  %at = kiln.argsort %ties {axis = 1 : i64, descending = false} : (tensor<4x1000xi64>) -> tensor<4x1000xi64>
  %tv, %ti = kiln.topk %wide {k = 10 : i64} : (tensor<3x9000xf32>) -> (tensor<3x10xf32>, tensor<3x10xi64>)
  %aw = kiln.argsort %wide {axis = -1 : i64, descending = true} : (tensor<3x9000xf32>) -> tensor<3x9000xi64>
  %sb = kiln.sort %b {axis = 1 : i64, descending = false} : (tensor<2x8192xbf16>) -> tensor<2x8192xbf16>
  %sd = kiln.sort %d {axis = 1 : i64, descending = true} : (tensor<5x5000xf64>) -> tensor<5x5000xf64>
  %dv, %di = kiln.topk %d {k = 7 : i64} : (tensor<5x5000xf64>) -> (tensor<5x7xf64>, tensor<5x7xi64>)
  %cw = kiln.cumsum %wide {axis = 1 : i64, exclusive = false, reverse = false} : (tensor<3x9000xf32>) -> tensor<3x9000xf32>
  %ci = kiln.cumsum %ints {axis = 0 : i64, exclusive = true, reverse = true} : (tensor<1000x3xi32>) -> tensor<1000x3xi32>
  %cd = kiln.cumsum %d {axis = -1 : i64, exclusive = false, reverse = false} : (tensor<5x5000xf64>) -> tensor<5x5000xf64>
  %sa = kiln.scatter_add %base, %idx, %upd {axis = 0 : i64} : (tensor<50x16xf32>, tensor<3000xi64>, tensor<3000x16xf32>) -> tensor<50x16xf32>
  %si = kiln.scatter_add %basei, %idx, %updi {axis = 0 : i64} : (tensor<50x16xi64>, tensor<3000xi64>, tensor<3000x16xi64>) -> tensor<50x16xi64>
  %rc = kiln.random_categorical %key, %logits : (tensor<i64>, tensor<64x1000xf32>) -> tensor<64xi64>
  %rb = kiln.random_categorical %key, %lb : (tensor<i64>, tensor<5x33xbf16>) -> tensor<5xi64>
  %lt = kiln.argsort %longties {axis = 1 : i64, descending = false} : (tensor<2x10000xi64>) -> tensor<2x10000xi64>
  %sab = kiln.scatter_add %baseb, %idxb, %updb {axis = 0 : i64} : (tensor<50x16xbf16>, tensor<120xi64>, tensor<120x16xbf16>) -> tensor<50x16xbf16>
  %rv = kiln.random_categorical %key, %vocab : (tensor<i64>, tensor<3x32000xbf16>) -> tensor<3xi64>
  %ad = kiln.argsort %pairs {axis = 0 : i64, descending = false} : (tensor<24576xi64>) -> tensor<24576xi64>
  %a0 = kiln.argsort %cols {axis = 0 : i64, descending = true} : (tensor<9000x2xf32>) -> tensor<9000x2xi64>
  %rk = kiln.random_categorical %rowkeys, %logits : (tensor<64xi64>, tensor<64x1000xf32>) -> tensor<64xi64>
  %rvk = kiln.random_categorical %vocabkeys, %vocab : (tensor<3xi64>, tensor<3x32000xbf16>) -> tensor<3xi64>
  %sh = kiln.scatter_add %baseh, %idxh, %updh {axis = 0 : i64} : (tensor<20x6xf16>, tensor<40xi64>, tensor<40x6xf16>) -> tensor<20x6xf16>
  %so = kiln.scatter_add %baseo, %idxh, %updo {axis = 0 : i64} : (tensor<20x5xbf16>, tensor<40xi64>, tensor<40x5xbf16>) -> tensor<20x5xbf16>
  return %s0, %at, %tv, %ti, %aw, %sb, %sd, %dv, %cw, %ci, %cd, %sa, %si, %rc, %rb, %lt, %sab, %rv, %ad, %a0, %rk, %rvk, %sh, %so
      : tensor<300x7xf32>, tensor<4x1000xi64>, tensor<3x10xf32>, tensor<3x10xi64>, tensor<3x9000xi64>,
        tensor<2x8192xbf16>, tensor<5x5000xf64>, tensor<5x7xf64>, tensor<3x9000xf32>, tensor<1000x3xi32>,
        tensor<5x5000xf64>, tensor<50x16xf32>, tensor<50x16xi64>, tensor<64xi64>, tensor<5xi64>,
        tensor<2x10000xi64>, tensor<50x16xbf16>, tensor<3xi64>, tensor<24576xi64>, tensor<9000x2xi64>,
        tensor<64xi64>, tensor<3xi64>, tensor<20x6xf16>, tensor<20x5xbf16>
}
