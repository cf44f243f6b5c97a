// Every kiln op parses, prints and parses again, in the custom and the generic form.
// RUN: kiln-opt %s | kiln-opt | FileCheck %s
// RUN: kiln-opt %s -mlir-print-op-generic | kiln-opt | FileCheck %s

// CHECK-LABEL: func.func @sources
// CHECK: kiln.constant {value = dense<[1, 2, 3]> : tensor<3xi32>} : () -> tensor<3xi32>
// CHECK-NEXT: kiln.iota {dimension = 1 : i64} : () -> tensor<2x3xf32>
// CHECK-NEXT: kiln.random_uniform %{{.*}} : (tensor<i64>) -> tensor<2x3xbf16>
// CHECK-NEXT: kiln.random_normal %{{.*}} : (tensor<i64>) -> tensor<4xf32>
// CHECK-NEXT: kiln.random_categorical %{{.*}}, %{{.*}} : (tensor<i64>, tensor<2x3xf32>) -> tensor<2xi64>
func.func @sources(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_c = kiln.constant {value = dense<[1, 2, 3]> : tensor<3xi32>} : () -> tensor<3xi32>
  %r_iota = kiln.iota {dimension = 1 : i64} : () -> tensor<2x3xf32>
  %r_ru = kiln.random_uniform %key : (tensor<i64>) -> tensor<2x3xbf16>
  %r_rn = kiln.random_normal %key : (tensor<i64>) -> tensor<4xf32>
  %r_rc = kiln.random_categorical %key, %x : (tensor<i64>, tensor<2x3xf32>) -> tensor<2xi64>
  return
}

// CHECK-LABEL: func.func @elementwise
// CHECK: kiln.neg %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.abs %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.sign %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.exp %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.log %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.sqrt %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.rsqrt %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.tanh %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.sigmoid %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.silu %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.gelu %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.erf %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.sin %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.cos %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.neg %{{.*}} : (tensor<2x3xi32>) -> tensor<2x3xi32>
// CHECK-NEXT: kiln.add %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.sub %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.mul %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.div %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.pow %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.maximum %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.minimum %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.equal %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.not_equal %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.less %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.less_equal %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.greater %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.greater_equal %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.logical_and %{{.*}}, %{{.*}} : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.logical_or %{{.*}}, %{{.*}} : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.logical_not %{{.*}} : (tensor<2x3xi1>) -> tensor<2x3xi1>
// CHECK-NEXT: kiln.select %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.cast %{{.*}} {to = f8E4M3FN} : (tensor<2x3xf32>) -> tensor<2x3xf8E4M3FN>
func.func @elementwise(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_neg = kiln.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_abs = kiln.abs %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_sign = kiln.sign %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_exp = kiln.exp %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_log = kiln.log %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_sqrt = kiln.sqrt %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_rsqrt = kiln.rsqrt %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_tanh = kiln.tanh %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_sigmoid = kiln.sigmoid %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_silu = kiln.silu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_gelu = kiln.gelu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_erf = kiln.erf %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_sin = kiln.sin %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_cos = kiln.cos %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_negi = kiln.neg %i : (tensor<2x3xi32>) -> tensor<2x3xi32>
  %r_add = kiln.add %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_sub = kiln.sub %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_mul = kiln.mul %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_div = kiln.div %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_pow = kiln.pow %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_maximum = kiln.maximum %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_minimum = kiln.minimum %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_equal = kiln.equal %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_not_equal = kiln.not_equal %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_less = kiln.less %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_less_equal = kiln.less_equal %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_greater = kiln.greater %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_greater_equal = kiln.greater_equal %x, %row : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  %r_and = kiln.logical_and %b, %b : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %r_or = kiln.logical_or %b, %b : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %r_not = kiln.logical_not %b : (tensor<2x3xi1>) -> tensor<2x3xi1>
  %r_sel = kiln.select %b, %x, %row : (tensor<2x3xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r_cast = kiln.cast %x {to = f8E4M3FN} : (tensor<2x3xf32>) -> tensor<2x3xf8E4M3FN>
  return
}

// CHECK-LABEL: func.func @shape
// CHECK: kiln.reshape %{{.*}} {shape = array<i64: 3, 2>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: kiln.transpose %{{.*}} {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: kiln.broadcast_to %{{.*}} {shape = array<i64: 4, 3>} : (tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT: kiln.slice %{{.*}} {limit = array<i64: 2, 3>, start = array<i64: 0, 1>, stride = array<i64: 1, 2>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK-NEXT: kiln.dynamic_update_slice %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: kiln.gather %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4xi64>) -> tensor<2x4xf32>
// CHECK-NEXT: kiln.take_along_axis %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x1xi64>) -> tensor<2x1xf32>
// CHECK-NEXT: kiln.put_along_axis %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x1xi64>, tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.scatter_add %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4xi64>, tensor<2x4xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.one_hot %{{.*}} {depth = 5 : i64, dtype = bf16} : (tensor<4xi64>) -> tensor<4x5xbf16>
// CHECK-NEXT: kiln.bincount %{{.*}} {length = 6 : i64} : (tensor<4xi64>) -> tensor<6xi64>
func.func @shape(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_rs = kiln.reshape %x {shape = array<i64: 3, 2>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %r_tr = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %r_bc = kiln.broadcast_to %row {shape = array<i64: 4, 3>} : (tensor<3xf32>) -> tensor<4x3xf32>
  %r_sl = kiln.slice %x {start = array<i64: 0, 1>, limit = array<i64: 2, 3>, stride = array<i64: 1, 2>} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r_dus = kiln.dynamic_update_slice %x, %row2, %start : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %r_cat = kiln.concat %x, %row2 {axis = 0 : i64} : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
  %r_ga = kiln.gather %x, %idx {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4xi64>) -> tensor<2x4xf32>
  %r_taa = kiln.take_along_axis %x, %idx2 {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x1xi64>) -> tensor<2x1xf32>
  %r_paa = kiln.put_along_axis %x, %idx2, %r_taa {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x1xi64>, tensor<2x1xf32>) -> tensor<2x3xf32>
  %r_sa = kiln.scatter_add %x, %idx, %upd {axis = 1 : i64} : (tensor<2x3xf32>, tensor<4xi64>, tensor<2x4xf32>) -> tensor<2x3xf32>
  %r_oh = kiln.one_hot %idx {depth = 5 : i64, dtype = bf16} : (tensor<4xi64>) -> tensor<4x5xbf16>
  %r_bin = kiln.bincount %idx {length = 6 : i64} : (tensor<4xi64>) -> tensor<6xi64>
  return
}

// CHECK-LABEL: func.func @reductions
// CHECK: kiln.sum %{{.*}} {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
// CHECK-NEXT: kiln.mean %{{.*}} {axes = array<i64: -1>, keepdims = true} : (tensor<2x3xf32>) -> tensor<2x1xf32>
// CHECK-NEXT: kiln.max %{{.*}} {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
// CHECK-NEXT: kiln.min %{{.*}} {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
// CHECK-NEXT: kiln.logsumexp %{{.*}} {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
// CHECK-NEXT: kiln.argmax %{{.*}} {axis = 1 : i64, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xi64>
// CHECK-NEXT: kiln.softmax %{{.*}} {axis = -1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.log_softmax %{{.*}} {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.cumsum %{{.*}} {axis = 1 : i64, exclusive = true, reverse = false} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.rms_norm %{{.*}}, %{{.*}} {eps = 9.9999999999999995E-7 : f64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
func.func @reductions(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_sum = kiln.sum %x {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
  %r_mean = kiln.mean %x {axes = array<i64: -1>, keepdims = true} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %r_max = kiln.max %x {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
  %r_min = kiln.min %x {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
  %r_logsumexp = kiln.logsumexp %x {axes = array<i64: -1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
  %r_am = kiln.argmax %x {axis = 1 : i64, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xi64>
  %r_sm = kiln.softmax %x {axis = -1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_lsm = kiln.log_softmax %x {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_cs = kiln.cumsum %x {axis = 1 : i64, exclusive = true, reverse = false} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_rms = kiln.rms_norm %x, %row {eps = 1.000000e-06 : f64} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return
}

// CHECK-LABEL: func.func @linalg_selection
// CHECK: kiln.matmul %{{.*}}, %{{.*}} {transpose_a = false, transpose_b = true} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: kiln.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<6x3xf32>, tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
// CHECK-NEXT: kiln.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<6x3xf32>, tensor<6x4xf32>, tensor<2xi64>) -> tensor<2x3x4xf32>
// CHECK-NEXT: kiln.topk %{{.*}} {k = 2 : i64} : (tensor<2x3xf32>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
// CHECK-NEXT: kiln.sort %{{.*}} {axis = 1 : i64, descending = true} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: kiln.argsort %{{.*}} {axis = 0 : i64, descending = false} : (tensor<2x3xf32>) -> tensor<2x3xi64>
func.func @linalg_selection(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_mm = kiln.matmul %x, %x {transpose_a = false, transpose_b = true} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  %r_gmm = kiln.grouped_matmul %tok, %w, %offs {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<6x3xf32>, tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
  %r_gmc = kiln.grouped_matmul %tok, %dy, %offs {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<6x3xf32>, tensor<6x4xf32>, tensor<2xi64>) -> tensor<2x3x4xf32>
  %r_tk:2 = kiln.topk %x {k = 2 : i64} : (tensor<2x3xf32>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  %r_so = kiln.sort %x {axis = 1 : i64, descending = true} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r_as = kiln.argsort %x {axis = 0 : i64, descending = false} : (tensor<2x3xf32>) -> tensor<2x3xi64>
  return
}

// CHECK-LABEL: func.func @model_ops
// CHECK: kiln.rotary %{{.*}}, %{{.*}}, %{{.*}} {interleaved = true} : (tensor<1x2x4x8xbf16>, tensor<4x4xbf16>, tensor<4x4xbf16>) -> tensor<1x2x4x8xbf16>
// CHECK-NEXT: kiln.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 2.500000e-01 : f64} : (tensor<1x2x4x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x5x6xbf16>, tensor<1xi32>, tensor<1xi32>) -> tensor<1x2x4x6xbf16>
// CHECK-NEXT: kiln.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, scale = 1.000000e+00 : f64} : (tensor<1x2x4x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x5x6xbf16>) -> tensor<1x2x4x6xbf16>
// CHECK-NEXT: kiln.cross_entropy %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2xf32>
// CHECK-NEXT: kiln.token_logprobs %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2xf32>
func.func @model_ops(%key: tensor<i64>, %x: tensor<2x3xf32>, %row: tensor<3xf32>, %row2: tensor<1x3xf32>, %i: tensor<2x3xi32>, %b: tensor<2x3xi1>, %start: tensor<2xi64>, %idx: tensor<4xi64>, %idx2: tensor<2x1xi64>, %upd: tensor<2x4xf32>, %tok: tensor<6x3xf32>, %w: tensor<2x3x4xf32>, %dy: tensor<6x4xf32>, %offs: tensor<2xi64>, %lab: tensor<2xi64>, %h: tensor<1x2x4x8xbf16>, %cos: tensor<4x4xbf16>, %sin: tensor<4x4xbf16>, %k: tensor<1x1x5x8xbf16>, %v: tensor<1x1x5x6xbf16>, %len: tensor<1xi32>, %off: tensor<1xi32>) {
  %r_rot = kiln.rotary %h, %cos, %sin {interleaved = true} : (tensor<1x2x4x8xbf16>, tensor<4x4xbf16>, tensor<4x4xbf16>) -> tensor<1x2x4x8xbf16>
  %r_att = kiln.attention %h, %k, %v, %len, %off {causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 2.500000e-01 : f64} : (tensor<1x2x4x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x5x6xbf16>, tensor<1xi32>, tensor<1xi32>) -> tensor<1x2x4x6xbf16>
  %r_att2 = kiln.attention %h, %k, %v {causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, scale = 1.000000e+00 : f64} : (tensor<1x2x4x8xbf16>, tensor<1x1x5x8xbf16>, tensor<1x1x5x6xbf16>) -> tensor<1x2x4x6xbf16>
  %r_ce = kiln.cross_entropy %x, %lab : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2xf32>
  %r_tl = kiln.token_logprobs %x, %lab : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2xf32>
  return
}

// CHECK-LABEL: func.func @moe_route
// CHECK: kiln.moe_route %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-21 : f64, normalize = true, num_groups = 4 : i64, scaling = 2.500000e+00 : f64, top_k = 3 : i64, topk_group = 2 : i64} : (tensor<5x8xf32>, tensor<8xf32>) -> (tensor<5x3xi64>, tensor<5x3xf32>)
func.func @moe_route(%s: tensor<5x8xf32>, %b: tensor<8xf32>) {
  %r:2 = kiln.moe_route %s, %b {num_groups = 4 : i64, topk_group = 2 : i64, top_k = 3 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<5x8xf32>, tensor<8xf32>) -> (tensor<5x3xi64>, tensor<5x3xf32>)
  return
}

// CHECK-LABEL: func.func @moe_ops
// CHECK: kiln.moe_plan %{{.*}} {num_experts = 3 : i64} : (tensor<3x2xi64>) -> (tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>)
// CHECK-NEXT: kiln.moe_gate_up %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<3x4xbf16>, tensor<3x5x4xbf16>, tensor<3x5x4xbf16>, tensor<6xi64>, tensor<3xi64>) -> (tensor<6x5xbf16>, tensor<6x5xbf16>, tensor<6x5xbf16>)
// CHECK-NEXT: kiln.moe_down %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<6x5xbf16>, tensor<3x4x5xbf16>, tensor<3x2xf32>, tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>) -> tensor<3x4xbf16>
// CHECK-NEXT: kiln.moe_combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<6x4xbf16>, tensor<6xi64>, tensor<3x2xi64>) -> tensor<3x4xbf16>
func.func @moe_ops(%experts: tensor<3x2xi64>, %x: tensor<3x4xbf16>, %wg: tensor<3x5x4xbf16>, %wd: tensor<3x4x5xbf16>, %w: tensor<3x2xf32>, %rows: tensor<6x4xbf16>) {
  %p:3 = kiln.moe_plan %experts {num_experts = 3 : i64} : (tensor<3x2xi64>) -> (tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>)
  %gu:3 = kiln.moe_gate_up %x, %wg, %wg, %p#0, %p#2 : (tensor<3x4xbf16>, tensor<3x5x4xbf16>, tensor<3x5x4xbf16>, tensor<6xi64>, tensor<3xi64>) -> (tensor<6x5xbf16>, tensor<6x5xbf16>, tensor<6x5xbf16>)
  %y = kiln.moe_down %gu#0, %wd, %w, %p#0, %p#1, %p#2 : (tensor<6x5xbf16>, tensor<3x4x5xbf16>, tensor<3x2xf32>, tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>) -> tensor<3x4xbf16>
  %c = kiln.moe_combine %rows, %p#0, %p#1 : (tensor<6x4xbf16>, tensor<6xi64>, tensor<3x2xi64>) -> tensor<3x4xbf16>
  return
}

// CHECK-LABEL: func.func @collectives
// CHECK: kiln.all_reduce %{{.*}} {group_size = 2 : i64, reduction = "sum"} : (tensor<4x6xbf16>) -> tensor<4x6xbf16>
// CHECK-NEXT: kiln.all_gather %{{.*}} {axis = 1 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>) -> tensor<4x12xbf16>
// CHECK-NEXT: kiln.reduce_scatter %{{.*}} {axis = 0 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>) -> tensor<2x6xbf16>
// CHECK-NEXT: kiln.all_to_all %{{.*}}, %{{.*}} {capacity = 8 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>, tensor<2xi64>) -> (tensor<8x6xbf16>, tensor<2xi64>)
// CHECK-NEXT: kiln.send %{{.*}} {group_size = 2 : i64, peer = 1 : i64} : (tensor<4x6xbf16>) -> ()
// CHECK-NEXT: kiln.recv {group_size = 2 : i64, peer = 1 : i64, type = tensor<3xf32>} : () -> tensor<3xf32>
func.func @collectives(%x: tensor<4x6xbf16>, %counts: tensor<2xi64>) {
  %0 = kiln.all_reduce %x {reduction = "sum", group_size = 2 : i64} : (tensor<4x6xbf16>) -> tensor<4x6xbf16>
  %1 = kiln.all_gather %x {axis = 1 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>) -> tensor<4x12xbf16>
  %2 = kiln.reduce_scatter %x {axis = 0 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>) -> tensor<2x6xbf16>
  %3:2 = kiln.all_to_all %x, %counts {capacity = 8 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>, tensor<2xi64>) -> (tensor<8x6xbf16>, tensor<2xi64>)
  kiln.send %x {peer = 1 : i64, group_size = 2 : i64} : (tensor<4x6xbf16>) -> ()
  %4 = kiln.recv {peer = 1 : i64, group_size = 2 : i64, type = tensor<3xf32>} : () -> tensor<3xf32>
  return
}

// CHECK-LABEL: func.func @quantization
// CHECK: %[[Q:.*]], %[[S:.*]] = kiln.quantize %{{.*}} {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<3x200xbf16>) -> (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>)
// CHECK-NEXT: kiln.quantize %{{.*}} {block = array<i64: 1, 128>, dtype = i4} : (tensor<3x200xbf16>) -> (tensor<3x200xi4>, tensor<3x2xf32>)
// CHECK-NEXT: kiln.dequantize %[[Q]], %[[S]] {block = array<i64: 1, 128>, dtype = f32} : (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>) -> tensor<3x200xf32>
// CHECK-NEXT: kiln.scaled_matmul %[[Q]], %[[S]], %{{.*}}, %{{.*}} {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, dtype = bf16, transpose_a = false, transpose_b = true} : (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>, tensor<5x200xf8E5M2>, tensor<1x2xf32>) -> tensor<3x5xbf16>
func.func @quantization(%x: tensor<3x200xbf16>, %w: tensor<5x200xf8E5M2>, %ws: tensor<1x2xf32>) {
  %q, %s = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<3x200xbf16>) -> (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>)
  %q4, %s4 = kiln.quantize %x {block = array<i64: 1, 128>, dtype = i4} : (tensor<3x200xbf16>) -> (tensor<3x200xi4>, tensor<3x2xf32>)
  %d = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = f32} : (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>) -> tensor<3x200xf32>
  %m = kiln.scaled_matmul %q, %s, %w, %ws {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = bf16} : (tensor<3x200xf8E4M3FN>, tensor<3x2xf32>, tensor<5x200xf8E5M2>, tensor<1x2xf32>) -> tensor<3x5xbf16>
  return
}
