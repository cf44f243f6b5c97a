// kiln-compile keeps a decode-sized kiln.moe_plan whole on the ptx target and
// gives it the one-block kernel (the default, checked on an H100);
// --moe-plan-kernel=false plans with argsort, bincount and cumsum, as on the
// host and as plans past the kernel's 1024 pairs always do.
// RUN: kiln-compile %s --target=ptx --print-ir -o %t.kx | FileCheck %s --check-prefix=KERNEL
// RUN: kiln-compile %s --target=ptx --moe-plan-kernel=false --print-ir -o %t.kx | FileCheck %s --check-prefix=DECOMPOSED

// KERNEL: kiln.dispatch kernel "moe_plan"
// KERNEL-NEXT: kiln.moe_plan
// KERNEL-NOT: kiln.argsort

// DECOMPOSED-NOT: kiln.moe_plan
// DECOMPOSED-DAG: kernel "sort"
// DECOMPOSED-DAG: kernel "bincount"
// DECOMPOSED-DAG: kernel "scan"
func.func @main(%e: tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>) {
  %p:3 = kiln.moe_plan %e {num_experts = 32 : i64} : (tensor<64x4xi64>) -> (tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>)
  return %p#0, %p#1, %p#2 : tensor<256xi64>, tensor<64x4xi64>, tensor<32xi64>
}
