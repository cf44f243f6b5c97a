// kiln.moe_plan's one-block kernel (isDirectMoePlan: at most 1024 pairs and
// experts; make gpu-carry compiles this with the kernel, the default, and with
// --moe-plan-kernel=false as the decomposed plan, moe_plan_plan_decomposed)
// against the CPU executor's argsort + bincount + cumsum, exactly:
// 1024 pairs whose ids run past both ends of [0, E) (ids -2..5 with E = 4:
// they sort as integers and count for no expert), a plan with more experts
// than pairs (600 threads for 24 pairs), and 1025 pairs, one past the kernel,
// which kiln-expand-unfused-composites expands instead.
func.func @main(%a: tensor<256x4xi64> {kiln.name = "a"},
                %b: tensor<8x3xi64> {kiln.name = "b"},
                %c: tensor<205x5xi64> {kiln.name = "c"})
    -> (tensor<1024xi64> {kiln.name = "order_a"}, tensor<256x4xi64> {kiln.name = "slot_a"},
        tensor<4xi64> {kiln.name = "offsets_a"},
        tensor<24xi64> {kiln.name = "order_b"}, tensor<8x3xi64> {kiln.name = "slot_b"},
        tensor<600xi64> {kiln.name = "offsets_b"},
        tensor<1025xi64> {kiln.name = "order_c"}, tensor<205x5xi64> {kiln.name = "slot_c"},
        tensor<8xi64> {kiln.name = "offsets_c"}) {
  %two = kiln.constant {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %shifted = kiln.sub %a, %two : (tensor<256x4xi64>, tensor<i64>) -> tensor<256x4xi64>
  %oa, %sa, %fa = kiln.moe_plan %shifted {num_experts = 4 : i64} : (tensor<256x4xi64>) -> (tensor<1024xi64>, tensor<256x4xi64>, tensor<4xi64>)
  %seventy = kiln.constant {value = dense<75> : tensor<i64>} : () -> tensor<i64>
  %spread = kiln.mul %b, %seventy : (tensor<8x3xi64>, tensor<i64>) -> tensor<8x3xi64>
  %ob, %sb, %fb = kiln.moe_plan %spread {num_experts = 600 : i64} : (tensor<8x3xi64>) -> (tensor<24xi64>, tensor<8x3xi64>, tensor<600xi64>)
  %oc, %sc, %fc = kiln.moe_plan %c {num_experts = 8 : i64} : (tensor<205x5xi64>) -> (tensor<1025xi64>, tensor<205x5xi64>, tensor<8xi64>)
  return %oa, %sa, %fa, %ob, %sb, %fb, %oc, %sc, %fc : tensor<1024xi64>, tensor<256x4xi64>, tensor<4xi64>, tensor<24xi64>, tensor<8x3xi64>, tensor<600xi64>, tensor<1025xi64>, tensor<205x5xi64>, tensor<8xi64>
}
