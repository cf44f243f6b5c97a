// Every op rejects bad input with a message that names the op and the offending
// types; inferred ops also report that inference failed.
// RUN: kiln-opt %s -split-input-file -verify-diagnostics

func.func @add_shapes(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.add' operand shapes do not broadcast: tensor<2x3xf32> and tensor<4xf32>}}
  // expected-error @+1 {{'kiln.add' op failed to infer returned types}}
  %0 = kiln.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @add_types(%a: tensor<2xf32>, %b: tensor<2xbf16>) {
  // expected-error @+2 {{'kiln.add' operands have different element types: tensor<2xf32> and tensor<2xbf16>}}
  // expected-error @+1 {{'kiln.add' op failed to infer returned types}}
  %0 = kiln.add %a, %b : (tensor<2xf32>, tensor<2xbf16>) -> tensor<2xf32>
  return
}

// -----

func.func @dynamic_shape(%a: tensor<?xf32>) {
  // expected-error @+2 {{'kiln.neg' operand 'x' must be a statically shaped tensor of a kiln element type, got tensor<?xf32>}}
  // expected-error @+1 {{'kiln.neg' op failed to infer returned types}}
  %0 = kiln.neg %a : (tensor<?xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @matmul_k(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+2 {{'kiln.matmul' contraction sizes differ: tensor<2x3xf32> has K = 3, tensor<4x5xf32> has K = 4}}
  // expected-error @+1 {{'kiln.matmul' op failed to infer returned types}}
  %0 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @matmul_k_transposed(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+2 {{'kiln.matmul' contraction sizes differ: tensor<2x3xf32> has K = 3, tensor<3x5xf32> (transposed) has K = 5}}
  // expected-error @+1 {{'kiln.matmul' op failed to infer returned types}}
  %0 = kiln.matmul %a, %b {transpose_a = false, transpose_b = true} : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+2 {{'kiln.matmul' operands must have rank >= 2, got tensor<3xf32> and tensor<3x5xf32>}}
  // expected-error @+1 {{'kiln.matmul' op failed to infer returned types}}
  %0 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<3xf32>, tensor<3x5xf32>) -> tensor<5xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x2x3xf32>, %b: tensor<3x3x5xf32>) {
  // expected-error @+2 {{'kiln.matmul' batch dimensions do not broadcast: tensor<2x2x3xf32> and tensor<3x3x5xf32>}}
  // expected-error @+1 {{'kiln.matmul' op failed to infer returned types}}
  %0 = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<2x2x3xf32>, tensor<3x3x5xf32>) -> tensor<2x2x5xf32>
  return
}

// -----

func.func @grouped_matmul_k(%x: tensor<10x4xf32>, %w: tensor<3x5x6xf32>, %o: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.grouped_matmul' x tensor<10x4xf32> and w tensor<3x5x6xf32> disagree on K: 4 vs 5}}
  // expected-error @+1 {{'kiln.grouped_matmul' op failed to infer returned types}}
  %0 = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<10x4xf32>, tensor<3x5x6xf32>, tensor<3xi64>) -> tensor<10x6xf32>
  return
}

// -----

func.func @grouped_matmul_groups(%x: tensor<10x4xf32>, %w: tensor<2x4x6xf32>, %o: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.grouped_matmul' mode rows needs w [E, K, N] with E = 3, got tensor<2x4x6xf32>}}
  // expected-error @+1 {{'kiln.grouped_matmul' op failed to infer returned types}}
  %0 = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<10x4xf32>, tensor<2x4x6xf32>, tensor<3xi64>) -> tensor<10x6xf32>
  return
}

// -----

func.func @grouped_matmul_contract(%x: tensor<10x4xf32>, %dy: tensor<9x6xf32>, %o: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.grouped_matmul' mode contract needs dy [T, N] with T = 10, got tensor<9x6xf32>}}
  // expected-error @+1 {{'kiln.grouped_matmul' op failed to infer returned types}}
  %0 = kiln.grouped_matmul %x, %dy, %o {mode = #kiln.grouped_mode<contract>, transpose_w = false} : (tensor<10x4xf32>, tensor<9x6xf32>, tensor<3xi64>) -> tensor<3x4x6xf32>
  return
}

// -----

func.func @grouped_matmul_mode(%x: tensor<10x4xf32>, %w: tensor<3x4x6xf32>, %o: tensor<3xi64>) {
  // expected-error @+1 {{'kiln.grouped_matmul' op attribute 'mode' failed to satisfy constraint: what a grouped_matmul computes per group}}
  %0 = kiln.grouped_matmul %x, %w, %o {mode = "rows", transpose_w = false} : (tensor<10x4xf32>, tensor<3x4x6xf32>, tensor<3xi64>) -> tensor<10x6xf32>
  return
}

// -----

func.func @grouped_matmul_unknown_mode(%x: tensor<10x4xf32>, %w: tensor<3x4x6xf32>, %o: tensor<3xi64>) {
  // expected-error @+2 {{expected ::kiln::ir::GroupedMatmulMode to be one of: rows, contract}}
  // expected-error @+1 {{failed to parse Kiln_GroupedMatmulModeAttr parameter 'value'}}
  %0 = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<cols>, transpose_w = false} : (tensor<10x4xf32>, tensor<3x4x6xf32>, tensor<3xi64>) -> tensor<10x6xf32>
  return
}

// -----

func.func @grouped_matmul_offsets(%x: tensor<10x4xf32>, %w: tensor<3x4x6xf32>, %o: tensor<3xf32>) {
  // expected-error @+2 {{'kiln.grouped_matmul' offsets must be a rank-1 integer tensor, got tensor<3xf32>}}
  // expected-error @+1 {{'kiln.grouped_matmul' op failed to infer returned types}}
  %0 = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<10x4xf32>, tensor<3x4x6xf32>, tensor<3xf32>) -> tensor<10x6xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<1x3x2x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) {
  // expected-error @+2 {{'kiln.attention' incompatible q tensor<1x3x2x8xf32>, k tensor<1x2x5x8xf32>, v tensor<1x2x5x8xf32>: need equal batch, k/v heads dividing q heads, equal key lengths and q/k widths}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v {scale = 1.0 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x3x2x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>) -> tensor<1x3x2x8xf32>
  return
}

// -----

func.func @attention_width(%q: tensor<1x2x2x8xf32>, %k: tensor<1x2x5x4xf32>, %v: tensor<1x2x5x8xf32>) {
  // expected-error @+2 {{'kiln.attention' incompatible q tensor<1x2x2x8xf32>, k tensor<1x2x5x4xf32>, v tensor<1x2x5x8xf32>: need equal batch, k/v heads dividing q heads, equal key lengths and q/k widths}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v {scale = 1.0 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x2x2x8xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x2x8xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<2x2x8xf32>, %k: tensor<1x2x5x8xf32>, %v: tensor<1x2x5x8xf32>) {
  // expected-error @+2 {{'kiln.attention' q, k, v must be [B, H, S, D], got tensor<2x2x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v {scale = 1.0 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x2x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>) -> tensor<1x2x2x8xf32>
  return
}

// -----

func.func @attention_valid_len(%q: tensor<2x2x2x8xf32>, %k: tensor<2x2x5x8xf32>, %v: tensor<2x2x5x8xf32>, %l: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.attention' valid_len must be an integer [2], got tensor<3xi64>}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v, %l {scale = 1.0 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x2x2x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x8xf32>, tensor<3xi64>) -> tensor<2x2x2x8xf32>
  return
}

// -----

func.func @attention_q_offset(%q: tensor<2x2x2x8xf32>, %k: tensor<2x2x5x8xf32>, %v: tensor<2x2x5x8xf32>, %o: tensor<2xf32>) {
  // expected-error @+2 {{'kiln.attention' q_offset must be an integer [2], got tensor<2xf32>}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v, %o {scale = 1.0 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>} : (tensor<2x2x2x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x8xf32>, tensor<2xf32>) -> tensor<2x2x2x8xf32>
  return
}

// -----

func.func @attention_int(%q: tensor<1x2x2x8xi32>, %k: tensor<1x2x5x8xi32>, %v: tensor<1x2x5x8xi32>) {
  // expected-error @+2 {{'kiln.attention' q, k, v must share a float element type, got tensor<1x2x2x8xi32>, tensor<1x2x5x8xi32>, tensor<1x2x5x8xi32>}}
  // expected-error @+1 {{'kiln.attention' op failed to infer returned types}}
  %0 = kiln.attention %q, %k, %v {scale = 1.0 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x2x2x8xi32>, tensor<1x2x5x8xi32>, tensor<1x2x5x8xi32>) -> tensor<1x2x2x8xi32>
  return
}

// -----

func.func @concat_shapes(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) {
  // expected-error @+2 {{'kiln.concat' input 1 tensor<2x4xf32> does not match input 0 tensor<2x3xf32> outside axis 0}}
  // expected-error @+1 {{'kiln.concat' op failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @concat_types(%a: tensor<2x3xf32>, %b: tensor<2x3xf16>) {
  // expected-error @+2 {{'kiln.concat' input 1 tensor<2x3xf16> does not match input 0 tensor<2x3xf32> outside axis 0}}
  // expected-error @+1 {{'kiln.concat' op failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf16>) -> tensor<4x3xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  // expected-error @+2 {{'kiln.concat' axis 2 is out of range for tensor<2x3xf32>}}
  // expected-error @+1 {{'kiln.concat' op failed to infer returned types}}
  %0 = kiln.concat %a, %b {axis = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @gather_indices(%x: tensor<4x3xf32>, %i: tensor<2xf32>) {
  // expected-error @+2 {{'kiln.gather' indices must be integers, got tensor<2xf32>}}
  // expected-error @+1 {{'kiln.gather' op failed to infer returned types}}
  %0 = kiln.gather %x, %i {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @gather_axis(%x: tensor<4x3xf32>, %i: tensor<2xi64>) {
  // expected-error @+2 {{'kiln.gather' axis -3 is out of range for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.gather' op failed to infer returned types}}
  %0 = kiln.gather %x, %i {axis = -3 : i64} : (tensor<4x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  return
}

// -----

func.func @take_along_axis_rank(%x: tensor<4x3xf32>, %i: tensor<4xi64>) {
  // expected-error @+2 {{'kiln.take_along_axis' indices tensor<4xi64> must have the rank of tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.take_along_axis' op failed to infer returned types}}
  %0 = kiln.take_along_axis %x, %i {axis = 1 : i64} : (tensor<4x3xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @take_along_axis_shape(%x: tensor<4x3xf32>, %i: tensor<2x1xi64>) {
  // expected-error @+2 {{'kiln.take_along_axis' indices tensor<2x1xi64> must match tensor<4x3xf32> outside axis 1}}
  // expected-error @+1 {{'kiln.take_along_axis' op failed to infer returned types}}
  %0 = kiln.take_along_axis %x, %i {axis = 1 : i64} : (tensor<4x3xf32>, tensor<2x1xi64>) -> tensor<2x1xf32>
  return
}

// -----

func.func @put_along_axis_indices(%x: tensor<4x3xf32>, %i: tensor<2x2xi64>, %v: tensor<2x3xf32>) {
  // expected-error @+2 {{'kiln.put_along_axis' indices tensor<2x2xi64> must match tensor<4x3xf32> (or be 1) outside axis 0}}
  // expected-error @+1 {{'kiln.put_along_axis' op failed to infer returned types}}
  %0 = kiln.put_along_axis %x, %i, %v {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2x2xi64>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @put_along_axis_values(%x: tensor<4x3xf32>, %i: tensor<2x1xi64>, %v: tensor<2x1xf32>) {
  // expected-error @+2 {{'kiln.put_along_axis' values tensor<2x1xf32> must be tensor<2x3xf32> for x tensor<4x3xf32> and indices tensor<2x1xi64>}}
  // expected-error @+1 {{'kiln.put_along_axis' op failed to infer returned types}}
  %0 = kiln.put_along_axis %x, %i, %v {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2x1xi64>, tensor<2x1xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @scatter_add_updates(%x: tensor<4x3xf32>, %i: tensor<2xi64>, %u: tensor<2x4xf32>) {
  // expected-error @+2 {{'kiln.scatter_add' updates tensor<2x4xf32> must be tensor<2x3xf32> for x tensor<4x3xf32> and indices tensor<2xi64>}}
  // expected-error @+1 {{'kiln.scatter_add' op failed to infer returned types}}
  %0 = kiln.scatter_add %x, %i, %u {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2xi64>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @scatter_add_indices(%x: tensor<4x3xf32>, %i: tensor<2xf32>, %u: tensor<2x3xf32>) {
  // expected-error @+2 {{'kiln.scatter_add' indices must be integers, got tensor<2xf32>}}
  // expected-error @+1 {{'kiln.scatter_add' op failed to infer returned types}}
  %0 = kiln.scatter_add %x, %i, %u {axis = 0 : i64} : (tensor<4x3xf32>, tensor<2xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @dynamic_update_slice_fit(%x: tensor<4x3xf32>, %u: tensor<5x3xf32>, %s: tensor<2xi64>) {
  // expected-error @+2 {{'kiln.dynamic_update_slice' update tensor<5x3xf32> does not fit in tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.dynamic_update_slice' op failed to infer returned types}}
  %0 = kiln.dynamic_update_slice %x, %u, %s : (tensor<4x3xf32>, tensor<5x3xf32>, tensor<2xi64>) -> tensor<4x3xf32>
  return
}

// -----

func.func @dynamic_update_slice_start(%x: tensor<4x3xf32>, %u: tensor<1x3xf32>, %s: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.dynamic_update_slice' start must be an integer vector of 2 entries, got tensor<3xi64>}}
  // expected-error @+1 {{'kiln.dynamic_update_slice' op failed to infer returned types}}
  %0 = kiln.dynamic_update_slice %x, %u, %s : (tensor<4x3xf32>, tensor<1x3xf32>, tensor<3xi64>) -> tensor<4x3xf32>
  return
}

// -----

func.func @one_hot_depth(%i: tensor<4xi64>) {
  // expected-error @+2 {{'kiln.one_hot' needs depth >= 1 and a kiln dtype, got depth 0 and f32}}
  // expected-error @+1 {{'kiln.one_hot' op failed to infer returned types}}
  %0 = kiln.one_hot %i {depth = 0 : i64, dtype = f32} : (tensor<4xi64>) -> tensor<4x0xf32>
  return
}

// -----

func.func @bincount_rank(%x: tensor<2x2xi64>) {
  // expected-error @+2 {{'kiln.bincount' needs a rank-1 integer tensor, got tensor<2x2xi64>}}
  // expected-error @+1 {{'kiln.bincount' op failed to infer returned types}}
  %0 = kiln.bincount %x {length = 4 : i64} : (tensor<2x2xi64>) -> tensor<4xi64>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<2x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.rms_norm' weight tensor<4xf32> must be [8] of x's element type for x tensor<2x8xf32>}}
  // expected-error @+1 {{'kiln.rms_norm' op failed to infer returned types}}
  %0 = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rms_norm_eps(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+2 {{'kiln.rms_norm' eps must be >= 0, got -1.000000e+00}}
  // expected-error @+1 {{'kiln.rms_norm' op failed to infer returned types}}
  %0 = kiln.rms_norm %x, %w {eps = -1.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @rotary_odd(%x: tensor<2x3x7xf32>, %c: tensor<3x3xf32>, %s: tensor<3x3xf32>) {
  // expected-error @+2 {{'kiln.rotary' needs a float x [..., S, D] with even D, got tensor<2x3x7xf32>}}
  // expected-error @+1 {{'kiln.rotary' op failed to infer returned types}}
  %0 = kiln.rotary %x, %c, %s {interleaved = true} : (tensor<2x3x7xf32>, tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<2x3x7xf32>
  return
}

// -----

func.func @rotary_table(%x: tensor<2x3x8xf32>, %c: tensor<3x8xf32>, %s: tensor<3x4xf32>) {
  // expected-error @+2 {{'kiln.rotary' cos/sin tensor<3x8xf32> must broadcast to tensor<2x3x4xf32> for x tensor<2x3x8xf32>}}
  // expected-error @+1 {{'kiln.rotary' op failed to infer returned types}}
  %0 = kiln.rotary %x, %c, %s {interleaved = false} : (tensor<2x3x8xf32>, tensor<3x8xf32>, tensor<3x4xf32>) -> tensor<2x3x8xf32>
  return
}

// -----

func.func @slice_limit(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.slice' window start [0, 0] limit [5, 3] stride [1, 1] is invalid for tensor<4x3xf32> at dimension 0}}
  // expected-error @+1 {{'kiln.slice' op failed to infer returned types}}
  %0 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 5, 3>, stride = array<i64: 1, 1>} : (tensor<4x3xf32>) -> tensor<5x3xf32>
  return
}

// -----

func.func @slice_stride(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.slice' window start [0, 0] limit [4, 3] stride [0, 1] is invalid for tensor<4x3xf32> at dimension 0}}
  // expected-error @+1 {{'kiln.slice' op failed to infer returned types}}
  %0 = kiln.slice %x {start = array<i64: 0, 0>, limit = array<i64: 4, 3>, stride = array<i64: 0, 1>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @slice_entries(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.slice' start, limit and stride need 2 entries for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.slice' op failed to infer returned types}}
  %0 = kiln.slice %x {start = array<i64: 0>, limit = array<i64: 4>, stride = array<i64: 1>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @transpose_perm(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.transpose' perm [0, 0] is not a permutation of 0..1 for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.transpose' op failed to infer returned types}}
  %0 = kiln.transpose %x {perm = array<i64: 0, 0>} : (tensor<4x3xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @transpose_rank(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.transpose' perm [1, 0, 2] does not match the rank of tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.transpose' op failed to infer returned types}}
  %0 = kiln.transpose %x {perm = array<i64: 1, 0, 2>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.reshape' cannot reshape tensor<4x3xf32> (12 elements) to [5, 2] (10 elements)}}
  // expected-error @+1 {{'kiln.reshape' op failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: 5, 2>} : (tensor<4x3xf32>) -> tensor<5x2xf32>
  return
}

// -----

func.func @reshape_negative(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.reshape' shape [-1, 12] has a negative dimension}}
  // expected-error @+1 {{'kiln.reshape' op failed to infer returned types}}
  %0 = kiln.reshape %x {shape = array<i64: -1, 12>} : (tensor<4x3xf32>) -> tensor<12xf32>
  return
}

// -----

func.func @broadcast_to_shape(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.broadcast_to' cannot broadcast tensor<4x3xf32> to [4, 4]}}
  // expected-error @+1 {{'kiln.broadcast_to' op failed to infer returned types}}
  %0 = kiln.broadcast_to %x {shape = array<i64: 4, 4>} : (tensor<4x3xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @topk_zero(%x: tensor<2x5xf32>) {
  // expected-error @+2 {{'kiln.topk' k = 0 must be in [1, 5] for tensor<2x5xf32>}}
  // expected-error @+1 {{'kiln.topk' op failed to infer returned types}}
  %0:2 = kiln.topk %x {k = 0 : i64} : (tensor<2x5xf32>) -> (tensor<2x0xf32>, tensor<2x0xi64>)
  return
}

// -----

func.func @topk_large(%x: tensor<2x5xf32>) {
  // expected-error @+2 {{'kiln.topk' k = 6 must be in [1, 5] for tensor<2x5xf32>}}
  // expected-error @+1 {{'kiln.topk' op failed to infer returned types}}
  %0:2 = kiln.topk %x {k = 6 : i64} : (tensor<2x5xf32>) -> (tensor<2x6xf32>, tensor<2x6xi64>)
  return
}

// -----

func.func @cast_type(%x: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.cast' cannot cast to i16: not a kiln element type}}
  // expected-error @+1 {{'kiln.cast' op failed to infer returned types}}
  %0 = kiln.cast %x {to = i16} : (tensor<4xf32>) -> tensor<4xi16>
  return
}

// -----

func.func @cast_index(%x: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.cast' cannot cast to index: not a kiln element type}}
  // expected-error @+1 {{'kiln.cast' op failed to infer returned types}}
  %0 = kiln.cast %x {to = index} : (tensor<4xf32>) -> tensor<4xindex>
  return
}

// -----

func.func @exp_int(%x: tensor<4xi32>) {
  // expected-error @+2 {{'kiln.exp' needs a float element type, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.exp' op failed to infer returned types}}
  %0 = kiln.exp %x : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @pow_int(%x: tensor<4xi32>) {
  // expected-error @+2 {{'kiln.pow' needs a float element type, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.pow' op failed to infer returned types}}
  %0 = kiln.pow %x, %x : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @softmax_int(%x: tensor<4xi32>) {
  // expected-error @+2 {{'kiln.softmax' needs a float element type, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.softmax' op failed to infer returned types}}
  %0 = kiln.softmax %x {axis = 0 : i64} : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @mean_int(%x: tensor<4xi32>) {
  // expected-error @+2 {{'kiln.mean' needs a float element type, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.mean' op failed to infer returned types}}
  %0 = kiln.mean %x {axes = array<i64: 0>, keepdims = false} : (tensor<4xi32>) -> tensor<i32>
  return
}

// -----

func.func @neg_bool(%x: tensor<4xi1>) {
  // expected-error @+2 {{'kiln.neg' needs a float or integer (not i1) element type, got tensor<4xi1>}}
  // expected-error @+1 {{'kiln.neg' op failed to infer returned types}}
  %0 = kiln.neg %x : (tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @select_cond(%c: tensor<4xi32>, %a: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.select' condition must be i1, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.select' op failed to infer returned types}}
  %0 = kiln.select %c, %a, %a : (tensor<4xi32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @select_branches(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+2 {{'kiln.select' branches have different element types: tensor<4xf32> and tensor<4xf16>}}
  // expected-error @+1 {{'kiln.select' op failed to infer returned types}}
  %0 = kiln.select %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @select_shapes(%c: tensor<3xi1>, %a: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.select' shapes do not broadcast: tensor<3xi1>, tensor<4xf32> and tensor<4xf32>}}
  // expected-error @+1 {{'kiln.select' op failed to infer returned types}}
  %0 = kiln.select %c, %a, %a : (tensor<3xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @logical_and_float(%a: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.logical_and' needs an i1 element type, got tensor<4xf32>}}
  // expected-error @+1 {{'kiln.logical_and' op failed to infer returned types}}
  %0 = kiln.logical_and %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @logical_or_int(%a: tensor<4xi8>) {
  // expected-error @+2 {{'kiln.logical_or' needs an i1 element type, got tensor<4xi8>}}
  // expected-error @+1 {{'kiln.logical_or' op failed to infer returned types}}
  %0 = kiln.logical_or %a, %a : (tensor<4xi8>, tensor<4xi8>) -> tensor<4xi8>
  return
}

// -----

func.func @logical_not_int(%a: tensor<4xi32>) {
  // expected-error @+2 {{'kiln.logical_not' needs an i1 element type, got tensor<4xi32>}}
  // expected-error @+1 {{'kiln.logical_not' op failed to infer returned types}}
  %0 = kiln.logical_not %a : (tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @less_bool(%a: tensor<4xi1>) {
  // expected-error @+2 {{'kiln.less' needs a float or integer (not i1) element type, got tensor<4xi1>}}
  // expected-error @+1 {{'kiln.less' op failed to infer returned types}}
  %0 = kiln.less %a, %a : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @sum_axis(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.sum' axis 2 is out of range for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.sum' op failed to infer returned types}}
  %0 = kiln.sum %x {axes = array<i64: 2>, keepdims = false} : (tensor<4x3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @sum_axis_twice(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.sum' axis -1 is listed twice in [1, -1] for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.sum' op failed to infer returned types}}
  %0 = kiln.sum %x {axes = array<i64: 1, -1>, keepdims = false} : (tensor<4x3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @argmax_axis(%x: tensor<4x3xf32>) {
  // expected-error @+2 {{'kiln.argmax' axis 2 is out of range for tensor<4x3xf32>}}
  // expected-error @+1 {{'kiln.argmax' op failed to infer returned types}}
  %0 = kiln.argmax %x {axis = 2 : i64, keepdims = false} : (tensor<4x3xf32>) -> tensor<4xi64>
  return
}

// -----

func.func @cumsum_bool(%x: tensor<4xi1>) {
  // expected-error @+2 {{'kiln.cumsum' needs a float or integer (not i1) element type, got tensor<4xi1>}}
  // expected-error @+1 {{'kiln.cumsum' op failed to infer returned types}}
  %0 = kiln.cumsum %x {axis = 0 : i64, exclusive = false, reverse = false} : (tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @sort_axis(%x: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.sort' axis 1 is out of range for tensor<4xf32>}}
  // expected-error @+1 {{'kiln.sort' op failed to infer returned types}}
  %0 = kiln.sort %x {axis = 1 : i64, descending = false} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @cross_entropy_labels(%l: tensor<2x3x8xf32>, %t: tensor<2x4xi64>) {
  // expected-error @+2 {{'kiln.cross_entropy' labels tensor<2x4xi64> must have the shape of logits tensor<2x3x8xf32> without its last dimension}}
  // expected-error @+1 {{'kiln.cross_entropy' op failed to infer returned types}}
  %0 = kiln.cross_entropy %l, %t : (tensor<2x3x8xf32>, tensor<2x4xi64>) -> tensor<2x4xf32>
  return
}

// -----

func.func @token_logprobs_float_labels(%l: tensor<2x8xf32>, %t: tensor<2xf32>) {
  // expected-error @+2 {{'kiln.token_logprobs' needs integer labels, got tensor<2xf32>}}
  // expected-error @+1 {{'kiln.token_logprobs' op failed to infer returned types}}
  %0 = kiln.token_logprobs %l, %t : (tensor<2x8xf32>, tensor<2xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @random_categorical_key(%k: tensor<3xi64>, %l: tensor<2x8xf32>) {
  // expected-error @+2 {{'kiln.random_categorical' key must be tensor<i64> or one i64 per row tensor<2xi64>, got tensor<3xi64>}}
  // expected-error @+1 {{'kiln.random_categorical' op failed to infer returned types}}
  %0 = kiln.random_categorical %k, %l : (tensor<3xi64>, tensor<2x8xf32>) -> tensor<2xi64>
  return
}

// -----

func.func @constant_type() {
  // expected-error @+2 {{'kiln.constant' value must be a statically shaped tensor of a kiln element type, got tensor<2xi16>}}
  // expected-error @+1 {{'kiln.constant' op failed to infer returned types}}
  %0 = kiln.constant {value = dense<1> : tensor<2xi16>} : () -> tensor<2xi16>
  return
}

// -----

func.func @random_uniform_key(%k: tensor<i32>) {
  // expected-error @+1 {{'kiln.random_uniform' op key must be tensor<i64>, got 'tensor<i32>'}}
  %0 = kiln.random_uniform %k : (tensor<i32>) -> tensor<4xf32>
  return
}

// -----

func.func @random_normal_key(%k: tensor<2xi64>) {
  // expected-error @+1 {{'kiln.random_normal' op key must be tensor<i64>, got 'tensor<2xi64>'}}
  %0 = kiln.random_normal %k : (tensor<2xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @random_uniform_int(%k: tensor<i64>) {
  // expected-error @+1 {{'kiln.random_uniform' op result must be a float tensor, got 'tensor<4xi32>'}}
  %0 = kiln.random_uniform %k : (tensor<i64>) -> tensor<4xi32>
  return
}

// -----

func.func @iota_dimension() {
  // expected-error @+1 {{'kiln.iota' op dimension 2 is out of range for 'tensor<3x4xi64>'}}
  %0 = kiln.iota {dimension = 2 : i64} : () -> tensor<3x4xi64>
  return
}

// -----

func.func @iota_negative() {
  // expected-error @+1 {{'kiln.iota' op dimension -1 is out of range for 'tensor<3x4xi64>'}}
  %0 = kiln.iota {dimension = -1 : i64} : () -> tensor<3x4xi64>
  return
}

// -----

func.func @iota_bool() {
  // expected-error @+1 {{'kiln.iota' op result cannot be i1}}
  %0 = kiln.iota {dimension = 0 : i64} : () -> tensor<3xi1>
  return
}

// -----

func.func @declared_result_mismatch(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{'kiln.exp' op inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<2x4xf32>'}}
  // expected-error @+1 {{'kiln.exp' op failed to infer returned types}}
  %0 = kiln.exp %a : (tensor<2x3xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @dispatch_yields_a_non_root(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.dispatch' op must yield exactly the results of its root op, 'kiln.neg'}}
  %0 = kiln.dispatch : tensor<4xf32> {
    %e = kiln.exp %x : (tensor<4xf32>) -> tensor<4xf32>
    %n = kiln.neg %e : (tensor<4xf32>) -> tensor<4xf32>
    kiln.yield %e : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

// Sizes that wrap int64 would make the executor allocate short buffers.
func.func @one_hot_overflow(%i: tensor<4xi64>) {
  // expected-error @+2 {{'kiln.one_hot' result tensor<4x2305843009213693952xf32> has more elements or bytes than a 64-bit size holds}}
  // expected-error @+1 {{'kiln.one_hot' op failed to infer returned types}}
  %0 = kiln.one_hot %i {depth = 2305843009213693952 : i64, dtype = f32} : (tensor<4xi64>) -> tensor<4x2305843009213693952xf32>
  return
}

// -----

func.func @dispatch_yield_types(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'kiln.dispatch' op yields 'tensor<4xf16>' but its results are 'tensor<4xf32>'}}
  %0 = kiln.dispatch : tensor<4xf32> {
    %c = kiln.cast %x {to = f16} : (tensor<4xf32>) -> tensor<4xf16>
    kiln.yield %c : tensor<4xf16>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @operand_overflow(%x: tensor<4294967296x4294967296xf32>) {
  // expected-error @+2 {{'kiln.neg' operand 'x' tensor<4294967296x4294967296xf32> has more elements or bytes than a 64-bit size holds}}
  // expected-error @+1 {{'kiln.neg' op failed to infer returned types}}
  %0 = kiln.neg %x : (tensor<4294967296x4294967296xf32>) -> tensor<4294967296x4294967296xf32>
  return
}

// -----

func.func @iota_overflow() {
  // expected-error @+1 {{'kiln.iota' op result 'tensor<4294967296x4294967296xf32>' has more elements or bytes than a 64-bit size holds}}
  %0 = kiln.iota {dimension = 1 : i64} : () -> tensor<4294967296x4294967296xf32>
  return
}

// -----

func.func @moe_plan_rank(%e: tensor<6xi64>) {
  // expected-error @+2 {{'kiln.moe_plan' experts must be an integer [T, k], got tensor<6xi64>}}
  // expected-error @+1 {{'kiln.moe_plan' op failed to infer returned types}}
  %0:3 = kiln.moe_plan %e {num_experts = 3 : i64} : (tensor<6xi64>) -> (tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>)
  return
}

// -----

func.func @moe_gate_up_topk(%x: tensor<4x4xf32>, %w: tensor<3x5x4xf32>, %order: tensor<6xi64>, %offsets: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.moe_gate_up' order's size 6 must be a multiple of the 4 tokens (T * k)}}
  // expected-error @+1 {{'kiln.moe_gate_up' op failed to infer returned types}}
  %0:3 = kiln.moe_gate_up %x, %w, %w, %order, %offsets : (tensor<4x4xf32>, tensor<3x5x4xf32>, tensor<3x5x4xf32>, tensor<6xi64>, tensor<3xi64>) -> (tensor<6x5xf32>, tensor<6x5xf32>, tensor<6x5xf32>)
  return
}

// -----

func.func @moe_down_weights(%act: tensor<6x5xf32>, %w: tensor<3x4x5xf32>, %rw: tensor<2x3xf32>, %order: tensor<6xi64>, %slot: tensor<3x2xi64>, %offsets: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.moe_down' weights must be a float tensor shaped like slot tensor<3x2xi64>, got tensor<2x3xf32>}}
  // expected-error @+1 {{'kiln.moe_down' op failed to infer returned types}}
  %0 = kiln.moe_down %act, %w, %rw, %order, %slot, %offsets : (tensor<6x5xf32>, tensor<3x4x5xf32>, tensor<2x3xf32>, tensor<6xi64>, tensor<3x2xi64>, tensor<3xi64>) -> tensor<3x4xf32>
  return
}

// -----

func.func @all_reduce_reduction(%x: tensor<4xf32>) {
  // expected-error @+2 {{'kiln.all_reduce' reduction must be "sum", "max" or "min", got "mean"}}
  // expected-error @+1 {{'kiln.all_reduce' op failed to infer returned types}}
  %0 = kiln.all_reduce %x {reduction = "mean", group_size = 2 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @reduce_scatter_uneven(%x: tensor<3x4xf32>) {
  // expected-error @+2 {{'kiln.reduce_scatter' dimension 0 of tensor<3x4xf32> does not split evenly over 2 ranks}}
  // expected-error @+1 {{'kiln.reduce_scatter' op failed to infer returned types}}
  %0 = kiln.reduce_scatter %x {axis = 0 : i64, group_size = 2 : i64} : (tensor<3x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @all_gather_group(%x: tensor<3x4xf32>) {
  // expected-error @+2 {{'kiln.all_gather' group_size must be at least 1, got 0}}
  // expected-error @+1 {{'kiln.all_gather' op failed to infer returned types}}
  %0 = kiln.all_gather %x {axis = 0 : i64, group_size = 0 : i64} : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @all_to_all_counts(%x: tensor<3x4xf32>, %c: tensor<3xi64>) {
  // expected-error @+2 {{'kiln.all_to_all' send_counts must be i64 [2] (one per rank), got tensor<3xi64>}}
  // expected-error @+1 {{'kiln.all_to_all' op failed to infer returned types}}
  %0:2 = kiln.all_to_all %x, %c {capacity = 6 : i64, group_size = 2 : i64} : (tensor<3x4xf32>, tensor<3xi64>) -> (tensor<6x4xf32>, tensor<3xi64>)
  return
}

// -----

func.func @send_peer(%x: tensor<3xf32>) {
  // expected-error @+2 {{'kiln.send' peer 2 is not a rank of a group of 2}}
  // expected-error @+1 {{'kiln.send' op failed to infer returned types}}
  kiln.send %x {peer = 2 : i64, group_size = 2 : i64} : (tensor<3xf32>) -> ()
  return
}

// -----

func.func @quantize_type(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{'kiln.quantize' dtype must be f8E4M3FN, f8E5M2, i8 or i4, got bf16}}
  // expected-error @+1 {{'kiln.quantize' op failed to infer returned types}}
  %q, %s = kiln.quantize %x {block = array<i64: 1, 4>, dtype = bf16} : (tensor<4x8xf32>) -> (tensor<4x8xbf16>, tensor<4x2xf32>)
  return
}

// -----

func.func @quantize_block(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{'kiln.quantize' block [4] must have one size >= 1 per dimension of tensor<4x8xf32>}}
  // expected-error @+1 {{'kiln.quantize' op failed to infer returned types}}
  %q, %s = kiln.quantize %x {block = array<i64: 4>, dtype = f8E4M3FN} : (tensor<4x8xf32>) -> (tensor<4x8xf8E4M3FN>, tensor<1x2xf32>)
  return
}

// -----

func.func @dequantize_scale(%q: tensor<4x8xf8E4M3FN>, %s: tensor<4x1xf32>) {
  // expected-error @+2 {{'kiln.dequantize' q's scale must be f32 [4, 2] (q tensor<4x8xf8E4M3FN> in blocks of [1, 4]), got tensor<4x1xf32>}}
  // expected-error @+1 {{'kiln.dequantize' op failed to infer returned types}}
  %d = kiln.dequantize %q, %s {block = array<i64: 1, 4>, dtype = f32} : (tensor<4x8xf8E4M3FN>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @scaled_matmul_promotion(%a: tensor<4x256xf8E4M3FN>, %sa: tensor<4x2xf32>, %b: tensor<256x8xf8E4M3FN>, %sb: tensor<4x1xf32>) {
  // expected-error @+2 {{'kiln.scaled_matmul' a_block [1, 128] and b_block [64, 128] must share their K size (the promotion interval), got 128 and 64}}
  // expected-error @+1 {{'kiln.scaled_matmul' op failed to infer returned types}}
  %m = kiln.scaled_matmul %a, %sa, %b, %sb {a_block = array<i64: 1, 128>, b_block = array<i64: 64, 128>, transpose_a = false, transpose_b = false, dtype = f32} : (tensor<4x256xf8E4M3FN>, tensor<4x2xf32>, tensor<256x8xf8E4M3FN>, tensor<4x1xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @scaled_matmul_int(%a: tensor<4x8xi4>, %sa: tensor<4x1xf32>, %b: tensor<8x8xf8E4M3FN>, %sb: tensor<1x1xf32>) {
  // expected-error @+2 {{'kiln.scaled_matmul' a must be f8E4M3FN or f8E5M2, got tensor<4x8xi4>}}
  // expected-error @+1 {{'kiln.scaled_matmul' op failed to infer returned types}}
  %m = kiln.scaled_matmul %a, %sa, %b, %sb {a_block = array<i64: 1, 8>, b_block = array<i64: 8, 8>, transpose_a = false, transpose_b = false, dtype = f32} : (tensor<4x8xi4>, tensor<4x1xf32>, tensor<8x8xf8E4M3FN>, tensor<1x1xf32>) -> tensor<4x8xf32>
  return
}
