// The tiled CUDA-core matmul (SimtMatmul.cpp): f32 and f64 at sizes that are
// not multiples of its 64 x 64 x 16 tile, every transpose combination, batched
// operands with a broadcast one, and bf16 whose dims rule out tensor cores.
// Few outputs over a long K (a decode-time router, a transposed A, f64) take
// a warp per output; a batched A against a shared B folds into one matmul.
func.func @main(%a: tensor<70x33xf32> {kiln.name = "a"}, %b: tensor<33x65xf32> {kiln.name = "b"},
                %at: tensor<33x70xf32> {kiln.name = "at"}, %bt: tensor<65x33xf32> {kiln.name = "bt"},
                %x: tensor<3x5x130x47xf32> {kiln.name = "x"}, %w: tensor<47x9xf32> {kiln.name = "w"},
                %d: tensor<20x300xf64> {kiln.name = "d"}, %e: tensor<300x17xf64> {kiln.name = "e"},
                %h: tensor<37x13xbf16> {kiln.name = "h"}, %g: tensor<13x29xbf16> {kiln.name = "g"},
                %r: tensor<4096x64xf32> {kiln.name = "r"}, %rw: tensor<64x2048xf32> {kiln.name = "rw"},
                %dec: tensor<64x1x1024xf32> {kiln.name = "dec"}, %gate: tensor<32x1024xf32> {kiln.name = "gate"},
                %ta: tensor<1024x40xf32> {kiln.name = "ta"}, %tb: tensor<1024x8xf32> {kiln.name = "tb"},
                %d2: tensor<70x100xf64> {kiln.name = "d2"}, %e2: tensor<100x40xf64> {kiln.name = "e2"})
    -> (tensor<70x65xf32> {kiln.name = "nn"}, tensor<70x65xf32> {kiln.name = "tn"},
        tensor<70x65xf32> {kiln.name = "nt"}, tensor<70x65xf32> {kiln.name = "tt"},
        tensor<3x5x130x9xf32> {kiln.name = "batched_broadcast"}, tensor<20x17xf64> {kiln.name = "f64"},
        tensor<37x29xbf16> {kiln.name = "bf16_odd"}, tensor<4096x2048xf32> {kiln.name = "router_like"},
        tensor<64x1x32xf32> {kiln.name = "decode_router"}, tensor<40x8xf32> {kiln.name = "warp_dot_tn"},
        tensor<70x40xf64> {kiln.name = "f64_tiled"}) {
  %nn = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<70x33xf32>, tensor<33x65xf32>) -> tensor<70x65xf32>
  %tn = kiln.matmul %at, %b {transpose_a = true, transpose_b = false} : (tensor<33x70xf32>, tensor<33x65xf32>) -> tensor<70x65xf32>
  %nt = kiln.matmul %a, %bt {transpose_a = false, transpose_b = true} : (tensor<70x33xf32>, tensor<65x33xf32>) -> tensor<70x65xf32>
  %tt = kiln.matmul %at, %bt {transpose_a = true, transpose_b = true} : (tensor<33x70xf32>, tensor<65x33xf32>) -> tensor<70x65xf32>
  %bb = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<3x5x130x47xf32>, tensor<47x9xf32>) -> tensor<3x5x130x9xf32>
  %f = kiln.matmul %d, %e {transpose_a = false, transpose_b = false} : (tensor<20x300xf64>, tensor<300x17xf64>) -> tensor<20x17xf64>
  %o = kiln.matmul %h, %g {transpose_a = false, transpose_b = false} : (tensor<37x13xbf16>, tensor<13x29xbf16>) -> tensor<37x29xbf16>
  %rr = kiln.matmul %r, %rw {transpose_a = false, transpose_b = false} : (tensor<4096x64xf32>, tensor<64x2048xf32>) -> tensor<4096x2048xf32>
  %dr = kiln.matmul %dec, %gate {transpose_a = false, transpose_b = true} : (tensor<64x1x1024xf32>, tensor<32x1024xf32>) -> tensor<64x1x32xf32>
  %wt = kiln.matmul %ta, %tb {transpose_a = true, transpose_b = false} : (tensor<1024x40xf32>, tensor<1024x8xf32>) -> tensor<40x8xf32>
  %f2 = kiln.matmul %d2, %e2 {transpose_a = false, transpose_b = false} : (tensor<70x100xf64>, tensor<100x40xf64>) -> tensor<70x40xf64>
  return %nn, %tn, %nt, %tt, %bb, %f, %o, %rr, %dr, %wt, %f2 : tensor<70x65xf32>, tensor<70x65xf32>, tensor<70x65xf32>, tensor<70x65xf32>, tensor<3x5x130x9xf32>, tensor<20x17xf64>, tensor<37x29xbf16>, tensor<4096x2048xf32>, tensor<64x1x32xf32>, tensor<40x8xf32>, tensor<70x40xf64>
}
