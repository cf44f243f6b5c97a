// kiln-compile --moe-plan-kernel keeps a decode-sized kiln.moe_plan whole on
// the ptx target and gives it the one-block kernel; without the flag (the
// default until the kernel is checked on a GPU) the plan is argsort, bincount
// and cumsum, as on the host.
// RUN: kiln-compile %s --target=ptx --moe-plan-kernel --print-ir -o %t.kx | FileCheck %s --check-prefix=KERNEL
// RUN: kiln-compile %s --target=ptx --print-ir -o %t.kx | FileCheck %s --check-prefix=DEFAULT

// KERNEL: kiln.dispatch kernel "moe_plan"
// KERNEL-NEXT: kiln.moe_plan
// KERNEL-NOT: kiln.argsort

// DEFAULT-NOT: kiln.moe_plan
// DEFAULT-DAG: kernel "sort"
// DEFAULT-DAG: kernel "bincount"
// DEFAULT-DAG: kernel "scan"
func.func @main(%e: tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>) {
  %p:3 = kiln.moe_plan %e {num_experts = 32 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>)
  return %p#0, %p#1, %p#2 : tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>
}
