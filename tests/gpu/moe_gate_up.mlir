// kiln.moe_gate_up on the wgmma gate/up kernel (one launch: the producer
// threads gather each row's token into the A tiles with cp.async, both
// weights come through tensor maps, the epilogue stores gate, up and
// silu(gate) * up) against the CPU executor's fused kernel. The 465M bench
// model's decode layer (64 tokens routed top-4 of 32 experts over a sigmoid
// of logits, H = 1024, I = 512); f16 with H = 200 (the last K step one
// 16-byte piece wide), I = 72 and 6 experts of ids in {0..7}, so the pairs
// of ids 6 and 7 sort past the last offset and their rows must be zero; and
// 512 tokens routed top-6 of 16 (groups spanning several 128-row tiles).
func.func @main(%x: tensor<64x1024xbf16> {kiln.name = "x"},
                %logits: tensor<64x32xf32> {kiln.name = "logits"},
                %bias: tensor<32xf32> {kiln.name = "bias"},
                %wg: tensor<32x512x1024xbf16> {kiln.name = "w_gate"},
                %wu: tensor<32x512x1024xbf16> {kiln.name = "w_up"},
                %y: tensor<40x200xf16> {kiln.name = "y"},
                %ey: tensor<40x3xi64> {kiln.name = "experts_y"},
                %vg: tensor<6x72x200xf16> {kiln.name = "v_gate"},
                %vu: tensor<6x72x200xf16> {kiln.name = "v_up"},
                %z: tensor<512x256xbf16> {kiln.name = "z"},
                %logits_z: tensor<512x16xf32> {kiln.name = "logits_z"},
                %bias_z: tensor<16xf32> {kiln.name = "bias_z"},
                %ug: tensor<16x176x256xbf16> {kiln.name = "u_gate"},
                %uu: tensor<16x176x256xbf16> {kiln.name = "u_up"})
    -> (tensor<256x512xbf16> {kiln.name = "act"}, tensor<256x512xbf16> {kiln.name = "gate"},
        tensor<256x512xbf16> {kiln.name = "up"}, tensor<120x72xf16> {kiln.name = "act_f16"},
        tensor<120x72xf16> {kiln.name = "gate_f16"}, tensor<3072x176xbf16> {kiln.name = "act_3072"},
        tensor<3072x176xbf16> {kiln.name = "up_3072"}) {
  %s = kiln.sigmoid %logits : (tensor<64x32xf32>) -> tensor<64x32xf32>
  %e, %w = kiln.moe_route %s, %bias {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 4 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<64x32xf32>, tensor<32xf32>) -> (tensor<64x4xi64>, tensor<64x4xf32>)
  %order, %slot, %offsets = kiln.moe_plan %e {num_experts = 32 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>)
  %act, %gate, %up = kiln.moe_gate_up %x, %wg, %wu, %order, %offsets : (tensor<64x1024xbf16>, tensor<32x512x1024xbf16>, tensor<32x512x1024xbf16>, tensor<256xi64>, tensor<32xi64>) -> (tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>)
  %o2, %s2, %f2 = kiln.moe_plan %ey {num_experts = 6 : i64} : (tensor<40x3xi64>) -> (tensor<120xi64>, tensor<40x3xi64>, tensor<6xi64>)
  %a2, %g2, %u2 = kiln.moe_gate_up %y, %vg, %vu, %o2, %f2 : (tensor<40x200xf16>, tensor<6x72x200xf16>, tensor<6x72x200xf16>, tensor<120xi64>, tensor<6xi64>) -> (tensor<120x72xf16>, tensor<120x72xf16>, tensor<120x72xf16>)
  %sz = kiln.sigmoid %logits_z : (tensor<512x16xf32>) -> tensor<512x16xf32>
  %ez, %wz = kiln.moe_route %sz, %bias_z {num_groups = 1 : i64, topk_group = 1 : i64, top_k = 6 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 1.0 : f64} : (tensor<512x16xf32>, tensor<16xf32>) -> (tensor<512x6xi64>, tensor<512x6xf32>)
  %o3, %s3, %f3 = kiln.moe_plan %ez {num_experts = 16 : i64} : (tensor<512x6xi64>) -> (tensor<3072xi64>, tensor<512x6xi64>, tensor<16xi64>)
  %a3, %g3, %u3 = kiln.moe_gate_up %z, %ug, %uu, %o3, %f3 : (tensor<512x256xbf16>, tensor<16x176x256xbf16>, tensor<16x176x256xbf16>, tensor<3072xi64>, tensor<16xi64>) -> (tensor<3072x176xbf16>, tensor<3072x176xbf16>, tensor<3072x176xbf16>)
  return %act, %gate, %up, %a2, %g2, %a3, %u3 : tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<256x512xbf16>, tensor<120x72xf16>, tensor<120x72xf16>, tensor<3072x176xbf16>, tensor<3072x176xbf16>
}
