// Dense bf16/f16 matmuls with K split over the blocks of a thread-block
// cluster (kiln.split_k on their regions, as kiln-select-kernels records it),
// whose blocks sum their partial tiles through distributed shared memory in
// rank order (WgmmaMatmul.cpp). Decoding's shapes (the query's down
// projection, the per-head value up-projection, a row-flattened batch), K
// ending inside a step (1000: the last share's second step holds 40), a last
// share shorter than the others (520 = 9 steps over 5 shares), two row tiles
// (f16), and A stored transposed.
func.func @main(%x: tensor<64x1024xbf16> {kiln.name = "x"}, %wq: tensor<384x1024xbf16> {kiln.name = "wq"},
                %p: tensor<16x64x256xbf16> {kiln.name = "p"}, %wv: tensor<16x256x64xbf16> {kiln.name = "wv"},
                %h: tensor<4x16x1024xbf16> {kiln.name = "h"}, %wo: tensor<1024x96xbf16> {kiln.name = "wo"},
                %a: tensor<50x1000xbf16> {kiln.name = "a"}, %b: tensor<1000x200xbf16> {kiln.name = "b"},
                %c: tensor<130x520xf16> {kiln.name = "c"}, %d: tensor<520x72xf16> {kiln.name = "d"},
                %e: tensor<512x64xbf16> {kiln.name = "e"}, %f: tensor<512x256xbf16> {kiln.name = "f"})
    -> (tensor<64x384xbf16> {kiln.name = "q_down"},
        tensor<16x64x64xbf16> {kiln.name = "value_up"},
        tensor<4x16x96xbf16> {kiln.name = "flattened"},
        tensor<50x200xbf16> {kiln.name = "k_edge"},
        tensor<130x72xf16> {kiln.name = "two_row_tiles"},
        tensor<64x256xbf16> {kiln.name = "a_transposed"}) {
  %r0 = kiln.dispatch {kiln.split_k = 8 : i64} : tensor<64x384xbf16> {
    %m = kiln.matmul %x, %wq {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
    kiln.yield %m : tensor<64x384xbf16>
  }
  %r1 = kiln.dispatch {kiln.split_k = 4 : i64} : tensor<16x64x64xbf16> {
    %m = kiln.matmul %p, %wv {transpose_a = false, transpose_b = false} : (tensor<16x64x256xbf16>, tensor<16x256x64xbf16>) -> tensor<16x64x64xbf16>
    kiln.yield %m : tensor<16x64x64xbf16>
  }
  %r2 = kiln.dispatch {kiln.split_k = 8 : i64} : tensor<4x16x96xbf16> {
    %m = kiln.matmul %h, %wo {transpose_a = false, transpose_b = false} : (tensor<4x16x1024xbf16>, tensor<1024x96xbf16>) -> tensor<4x16x96xbf16>
    kiln.yield %m : tensor<4x16x96xbf16>
  }
  %r3 = kiln.dispatch {kiln.split_k = 8 : i64} : tensor<50x200xbf16> {
    %m = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<50x1000xbf16>, tensor<1000x200xbf16>) -> tensor<50x200xbf16>
    kiln.yield %m : tensor<50x200xbf16>
  }
  %r4 = kiln.dispatch {kiln.split_k = 5 : i64} : tensor<130x72xf16> {
    %m = kiln.matmul %c, %d {transpose_a = false, transpose_b = false} : (tensor<130x520xf16>, tensor<520x72xf16>) -> tensor<130x72xf16>
    kiln.yield %m : tensor<130x72xf16>
  }
  %r5 = kiln.dispatch {kiln.split_k = 8 : i64} : tensor<64x256xbf16> {
    %m = kiln.matmul %e, %f {transpose_a = true, transpose_b = false} : (tensor<512x64xbf16>, tensor<512x256xbf16>) -> tensor<64x256xbf16>
    kiln.yield %m : tensor<64x256xbf16>
  }
  return %r0, %r1, %r2, %r3, %r4, %r5 : tensor<64x384xbf16>, tensor<16x64x64xbf16>, tensor<4x16x96xbf16>, tensor<50x200xbf16>, tensor<130x72xf16>, tensor<64x256xbf16>
}
