// kiln-instrument-precision: every candidate weight GEMM (not the router, a
// kept pattern) is computed as written, in fp8 and in int4, and the
// precision_switch input's element for its weight selects one (0: as
// written, 1: fp8, 2: int4); the module records which element is which
// weight. kiln-lower-precision lowers the tagged clones as it lowers
// kiln-assign-precision's. A module that differentiates is refused while int4
// is a choice.
// RUN: kiln-opt %s --split-input-file --kiln-instrument-precision --verify-diagnostics | FileCheck %s
// RUN: kiln-opt %s --split-input-file --kiln-instrument-precision --kiln-lower-precision --verify-diagnostics | FileCheck %s --check-prefix=LOWER
// RUN: kiln-opt %s --split-input-file "--kiln-instrument-precision=choices=fp8 keep=gate.weight,layers.1" | FileCheck %s --check-prefix=FP8
// RUN: not kiln-opt %s --split-input-file "--kiln-instrument-precision=choices=int8" 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK: module attributes {kiln.precision_switch = {input = "precision_switch", values = ["bf16", "fp8", "int4"], weights = ["model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.up_proj.weight"]}
// CHECK: func.func @forward({{.*}}, %[[SW:.*]]: tensor<3xf32> {kiln.name = "precision_switch"})
// CHECK: %[[Y:.*]] = kiln.matmul %arg0, %arg1 {transpose_a = false, transpose_b = true}
// CHECK: %[[S:.*]] = kiln.slice %[[SW]] {limit = array<i64: 1>, start = array<i64: 0>, stride = array<i64: 1>}
// CHECK: %[[F:.*]] = kiln.matmul %arg0, %arg1 {kiln.precision = {block = 128 : i64, dtype = f8E4M3FN, weight = "model.layers.0.mlp.up_proj.weight"}
// CHECK: %[[ONE:.*]] = kiln.constant {value = dense<1.000000e+00> : tensor<f32>}
// CHECK: %[[IS1:.*]] = kiln.equal %[[S]], %[[ONE]]
// CHECK: %[[SEL1:.*]] = kiln.select %[[IS1]], %[[F]], %[[Y]]
// CHECK: %[[I:.*]] = kiln.matmul %arg0, %arg1 {kiln.precision = {block = 128 : i64, dtype = i4, weight = "model.layers.0.mlp.up_proj.weight"}
// CHECK: %[[TWO:.*]] = kiln.constant {value = dense<2.000000e+00> : tensor<f32>}
// CHECK: %[[IS2:.*]] = kiln.equal %[[S]], %[[TWO]]
// CHECK: %[[SEL2:.*]] = kiln.select %[[IS2]], %[[I]], %[[SEL1]]
// The next GEMM reads the selected value; its switch is element 1.
// CHECK: kiln.matmul %[[SEL2]], %arg2 {transpose_a
// CHECK: kiln.slice %[[SW]] {limit = array<i64: 2>, start = array<i64: 1>
// CHECK: kiln.slice %[[SW]] {limit = array<i64: 3>, start = array<i64: 2>
// The router is no candidate.
// CHECK: kiln.matmul %{{.*}}, %arg4 {transpose_a = false, transpose_b = true}
// CHECK-NOT: kiln.select

// LOWER: kiln.scaled_matmul {{.*}}weight = "model.layers.0.mlp.up_proj.weight"
// LOWER: kiln.quantize %arg1 {block = array<i64: 1, 128>, dtype = i4}
// LOWER-NOT: kiln.matmul {{.*}}kiln.precision

// FP8: weights = ["model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight"]
// FP8: func.func @forward({{.*}}, %{{.*}}: tensor<2xf32> {kiln.name = "precision_switch"})
// FP8-COUNT-2: kiln.select
// FP8-NOT: kiln.select
// With fp8 alone a module that differentiates is instrumented too.
// FP8: func.func @step
// FP8: kiln.select

// BAD: kiln-instrument-precision: choice 'int8' is not fp8 or int4, or is listed twice
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

// -----

module attributes {kiln.state = [
    {name = "w", type = tensor<8x8xf32>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x8xf32> {kiln.name = "x"},
                  %w: tensor<8x8xf32> {kiln.state = "w"}) -> (tensor<8x8xf32> {kiln.name = "dw"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %l = kiln.sum %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x8xf32>) -> tensor<f32>
    // expected-error @+1 {{kiln-instrument-precision: int4 quantizes weights for inference only, and this module differentiates (kiln.grad); instrument it with choices=fp8}}
    %g = kiln.grad %l, %w : (tensor<f32>, tensor<8x8xf32>) -> (tensor<8x8xf32>)
    return %g : tensor<8x8xf32>
  }
}
