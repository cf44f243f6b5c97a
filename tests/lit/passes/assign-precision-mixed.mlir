// kiln-assign-precision's explicit assignment (what the auto policy chose,
// rerun alone): an entry naming a weight exactly wins over one that is a
// substring of it, entries win over the policy, the policy and the keep
// patterns decide the rest. A malformed entry, or one that names no weight
// GEMM, is an error naming it.
// RUN: kiln-opt %s "--kiln-assign-precision=assign=model.layers.0.mlp.up_proj.weight=int4,down_proj=fp8" | FileCheck %s --check-prefix=MIXED
// RUN: kiln-opt %s "--kiln-assign-precision=policy=int4 assign=up_proj=fp8,model.layers.1.mlp.up_proj.weight=bf16" | FileCheck %s --check-prefix=OVER
// RUN: kiln-opt %s "--kiln-assign-precision=assign=model.layers.1.mlp.gate.weight=fp8" | FileCheck %s --check-prefix=ROUTER
// RUN: not kiln-opt %s "--kiln-assign-precision=assign=up_proj" 2>&1 | FileCheck %s --check-prefix=NOEQ
// RUN: not kiln-opt %s "--kiln-assign-precision=assign=down_proj=fp8,up_proj=fp16" 2>&1 | FileCheck %s --check-prefix=TYPE
// RUN: not kiln-opt %s "--kiln-assign-precision=assign==int4" 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not kiln-opt %s "--kiln-assign-precision=assign=o_proj=int4" 2>&1 | FileCheck %s --check-prefix=NONE

// MIXED: kiln.matmul %arg0, %arg1 {kiln.precision = {block = 128 : i64, dtype = i4, weight = "model.layers.0.mlp.up_proj.weight"}
// MIXED: kiln.matmul %{{.*}}, %arg2 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "model.layers.0.mlp.down_proj.weight"}
// MIXED: kiln.matmul %{{.*}}, %arg3 {transpose_a
// MIXED: kiln.matmul %{{.*}}, %arg4 {transpose_a

// OVER: kiln.matmul %arg0, %arg1 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "model.layers.0.mlp.up_proj.weight"}
// OVER: kiln.matmul %{{.*}}, %arg2 {kiln.precision = {block = 128 : i64, dtype = i4, weight = "model.layers.0.mlp.down_proj.weight"}
// OVER: kiln.matmul %{{.*}}, %arg3 {transpose_a
// OVER: kiln.matmul %{{.*}}, %arg4 {transpose_a

// An entry chooses even a weight the keep patterns would keep.
// ROUTER-NOT: kiln.precision = {{.*}}proj
// ROUTER: kiln.matmul %{{.*}}, %arg4 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "model.layers.1.mlp.gate.weight"}

// NOEQ: kiln-assign-precision: assign entry 'up_proj' is not WEIGHT=bf16|fp8|fp8-delayed|int4
// TYPE: kiln-assign-precision: assign entry 'up_proj=fp16' is not WEIGHT=bf16|fp8|fp8-delayed|int4
// EMPTY: kiln-assign-precision: assign entry '=int4' is not WEIGHT=bf16|fp8|fp8-delayed|int4
// NONE: kiln-assign-precision: assign entry 'o_proj=int4' matches no weight GEMM of this module
module attributes {kiln.state = [
    {name = "model.layers.0.mlp.up_proj.weight", type = tensor<16x8xf32>, kind = "parameter"},
    {name = "model.layers.0.mlp.down_proj.weight", type = tensor<8x16xf32>, kind = "parameter"},
    {name = "model.layers.1.mlp.up_proj.weight", type = tensor<16x8xf32>, kind = "parameter"},
    {name = "model.layers.1.mlp.gate.weight", type = tensor<4x8xf32>, kind = "parameter"}]} {
  func.func @forward(%x: tensor<2x8xf32> {kiln.name = "x"},
                     %u0: tensor<16x8xf32> {kiln.state = "model.layers.0.mlp.up_proj.weight"},
                     %d0: tensor<8x16xf32> {kiln.state = "model.layers.0.mlp.down_proj.weight"},
                     %u1: tensor<16x8xf32> {kiln.state = "model.layers.1.mlp.up_proj.weight"},
                     %r1: tensor<4x8xf32> {kiln.state = "model.layers.1.mlp.gate.weight"})
      -> (tensor<2x16xf32> {kiln.name = "y"}, tensor<2x4xf32> {kiln.name = "router"}) {
    %h = kiln.matmul %x, %u0 {transpose_a = false, transpose_b = true} : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
    %o = kiln.matmul %h, %d0 {transpose_a = false, transpose_b = true} : (tensor<2x16xf32>, tensor<8x16xf32>) -> tensor<2x8xf32>
    %y = kiln.matmul %o, %u1 {transpose_a = false, transpose_b = true} : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
    %r = kiln.matmul %o, %r1 {transpose_a = false, transpose_b = true} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    return %y, %r : tensor<2x16xf32>, tensor<2x4xf32>
  }
}
