// kiln-shard-optimizer-state (ZeRO-1) over a data-parallel step: each float
// optimizer state keeps this rank's block of its flattened, zero-padded
// tensor (w's 9 elements over 2 ranks: blocks of 5), the gradient is
// reduce_scattered instead of all_reduced, the momentum update and the
// parameter step run on the block (the parameter cut to this rank's block
// after its full-size decay), and the new parameter is all_gathered. The
// sum of squares becomes the block's, padding masked, then an all_reduce;
// zeros that reset a moment shrink to the block; the step counter and one
// rank leave everything whole.
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 --kiln-grad --canonicalize --cse --kiln-shard-optimizer-state=group-size=2 | FileCheck %s
// RUN: kiln-opt %s --kiln-data-parallel=group-size=2 --kiln-grad --canonicalize --cse --kiln-shard-optimizer-state=group-size=1 | FileCheck %s --check-prefix=ONE

// CHECK: kiln.state = [{{.*}}{a = {{.*}}, full_type = tensor<3x3xf32>, group_size = 2 : i64, init = "zeros", kind = "optimizer_shard", name = "w.m", seed = 0 : i64, type = tensor<5xf32>}
// CHECK-SAME: {a = {{.*}}, full_type = tensor<2xf32>, group_size = 2 : i64, init = "zeros", kind = "optimizer_shard", name = "b.m", seed = 0 : i64, type = tensor<1xf32>}
// CHECK-SAME: kind = "optimizer", name = "step", seed = 0 : i64, type = tensor<i64>}

// CHECK-LABEL: func.func @step
// CHECK-SAME: %[[W:[a-z0-9]+]]: tensor<3x3xf32> {kiln.state = "w"}
// CHECK-SAME: %[[WM:[a-z0-9]+]]: tensor<5xf32> {kiln.state = "w.m"}
// CHECK-SAME: %[[BM:[a-z0-9]+]]: tensor<1xf32> {kiln.state = "b.m"}
// CHECK-SAME: -> (tensor<f32> {kiln.name = "loss"}, tensor<f32> {kiln.name = "sumsq"}, tensor<3x3xf32> {kiln.state = "w"}, tensor<5xf32> {kiln.state = "w.m"}, tensor<2xf32> {kiln.state = "b"}, tensor<1xf32> {kiln.state = "b.m"}, tensor<i64> {kiln.state = "step"})
// The rank: block r of the sum of [0, 1] over 2 ranks is 2 r.
// CHECK: %[[IDS:.*]] = kiln.constant {value = dense<[0, 1]> : tensor<2xi64>}
// CHECK-NEXT: %[[RS:.*]] = kiln.reduce_scatter %[[IDS]] {axis = 0 : i64, group_size = 2 : i64} : (tensor<2xi64>) -> tensor<1xi64>
// CHECK: %[[RANK:.*]] = kiln.div %[[RS]]
// CHECK-NOT: kiln.all_reduce %{{.*}}tensor<3x3xf32>
// CHECK: %[[GW:.*]] = kiln.reshape %{{.*}}: (tensor<3x3xf32>) -> tensor<9xf32>
// CHECK: %[[PAD:.*]] = kiln.concat %[[GW]], %{{.*}} {axis = 0 : i64} : (tensor<9xf32>, tensor<1xf32>) -> tensor<10xf32>
// CHECK-NEXT: %[[GWS:.*]] = kiln.reduce_scatter %[[PAD]] {axis = 0 : i64, group_size = 2 : i64} : (tensor<10xf32>) -> tensor<5xf32>
// CHECK-NEXT: %[[GWA:.*]] = kiln.mul %[[GWS]], %{{.*}} : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: kiln.reduce_scatter %{{.*}} {axis = 0 : i64, group_size = 2 : i64} : (tensor<2xf32>) -> tensor<1xf32>
// The padded element is no element of w's gradient: masked out of the sum.
// CHECK: kiln.mul %[[GWA]], %[[GWA]] : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
// CHECK: kiln.iota
// CHECK: kiln.less
// CHECK: %[[MASKED:.*]] = kiln.select %{{.*}}, %[[SQUARES:.*]], %{{.*}} : (tensor<5xi1>, tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %[[PART:.*]] = kiln.sum %[[MASKED]] {axes = array<i64: 0>, keepdims = false} : (tensor<5xf32>) -> tensor<f32>
// CHECK-NEXT: %[[SQ:.*]] = kiln.all_reduce %[[PART]] {group_size = 2 : i64, reduction = "sum"} : (tensor<f32>) -> tensor<f32>
// CHECK: %[[M1:.*]] = kiln.mul %[[WM]], %{{.*}} : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %[[M1G:.*]] = kiln.mul %[[GWA]], %{{.*}} : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %[[M2:.*]] = kiln.add %[[M1]], %[[M1G]] : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
// The decay runs on the whole parameter, then this rank's block is cut.
// CHECK: %[[DECAYED:.*]] = kiln.mul %[[W]], %{{.*}} : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
// CHECK: %[[ROWS:.*]] = kiln.reshape %{{.*}}: (tensor<10xf32>) -> tensor<2x5xf32>
// CHECK-NEXT: %[[MINE:.*]] = kiln.gather %[[ROWS]], %[[RANK]] {axis = 0 : i64} : (tensor<2x5xf32>, tensor<1xi64>) -> tensor<1x5xf32>
// CHECK-NEXT: %[[WB:.*]] = kiln.reshape %[[MINE]] {{.*}}: (tensor<1x5xf32>) -> tensor<5xf32>
// CHECK-NEXT: %[[STEP:.*]] = kiln.mul %[[M2]], %{{.*}} : (tensor<5xf32>, tensor<f32>) -> tensor<5xf32>
// CHECK-NEXT: %[[NEW:.*]] = kiln.sub %[[WB]], %[[STEP]] : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
// CHECK-NEXT: %[[ALL:.*]] = kiln.all_gather %[[NEW]] {axis = 0 : i64, group_size = 2 : i64} : (tensor<5xf32>) -> tensor<10xf32>
// CHECK-NEXT: %[[CUT:.*]] = kiln.slice %[[ALL]]
// CHECK-NEXT: %[[WNEW:.*]] = kiln.reshape %[[CUT]] {{.*}}: (tensor<9xf32>) -> tensor<3x3xf32>
// CHECK: return %{{.*}}, %[[SQ]], %[[WNEW]], %[[M2]], %{{.*}}, %{{.*}}, %{{.*}} :

// CHECK-LABEL: func.func @reset
// CHECK-SAME: (%{{.*}}: tensor<5xf32> {kiln.state = "w.m"}) -> (tensor<5xf32> {kiln.state = "w.m"})
// CHECK-NEXT: %[[Z:.*]] = kiln.constant {value = dense<0.000000e+00> : tensor<5xf32>}
// CHECK-NEXT: return %[[Z]]

// ONE-NOT: reduce_scatter
// ONE-NOT: optimizer_shard
module attributes {kiln.state = [
    {name = "w", type = tensor<3x3xf32>, kind = "parameter", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64},
    {name = "b", type = tensor<2xf32>, kind = "parameter", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64},
    {name = "w.m", type = tensor<3x3xf32>, kind = "optimizer", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64},
    {name = "b.m", type = tensor<2xf32>, kind = "optimizer", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64},
    {name = "step", type = tensor<i64>, kind = "optimizer", init = "zeros", a = 0.0, b = 0.0, seed = 0 : i64}]} {
  func.func @step(%x: tensor<4x3xf32> {kiln.name = "x"},
                  %lr: tensor<f32> {kiln.name = "lr"},
                  %w: tensor<3x3xf32> {kiln.state = "w"},
                  %b: tensor<2xf32> {kiln.state = "b"},
                  %wm: tensor<3x3xf32> {kiln.state = "w.m"},
                  %bm: tensor<2xf32> {kiln.state = "b.m"},
                  %t: tensor<i64> {kiln.state = "step"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<f32> {kiln.name = "sumsq"},
          tensor<3x3xf32> {kiln.state = "w"}, tensor<3x3xf32> {kiln.state = "w.m"},
          tensor<2xf32> {kiln.state = "b"}, tensor<2xf32> {kiln.state = "b.m"},
          tensor<i64> {kiln.state = "step"}) {
    %h = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
    %hs = kiln.slice %h {start = array<i64: 0, 0>, limit = array<i64: 4, 2>, stride = array<i64: 1, 1>} : (tensor<4x3xf32>) -> tensor<4x2xf32>
    %y = kiln.add %hs, %b : (tensor<4x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
    %l = kiln.mean %y {axes = array<i64: 0, 1>, keepdims = false} : (tensor<4x2xf32>) -> tensor<f32>
    %g:2 = kiln.grad %l, %w, %b : (tensor<f32>, tensor<3x3xf32>, tensor<2xf32>) -> (tensor<3x3xf32>, tensor<2xf32>)
    %g2 = kiln.mul %g#0, %g#0 : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %sq = kiln.sum %g2 {axes = array<i64: 0, 1>, keepdims = false} : (tensor<3x3xf32>) -> tensor<f32>
    %beta = kiln.constant {value = dense<0.9> : tensor<f32>} : () -> tensor<f32>
    %one_minus = kiln.constant {value = dense<0.1> : tensor<f32>} : () -> tensor<f32>
    %decay = kiln.constant {value = dense<0.99> : tensor<f32>} : () -> tensor<f32>
    %wm1 = kiln.mul %wm, %beta : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
    %wg1 = kiln.mul %g#0, %one_minus : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
    %wm2 = kiln.add %wm1, %wg1 : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %wd = kiln.mul %w, %decay : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
    %ws = kiln.mul %wm2, %lr : (tensor<3x3xf32>, tensor<f32>) -> tensor<3x3xf32>
    %w2 = kiln.sub %wd, %ws : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %bm1 = kiln.mul %bm, %beta : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
    %bg1 = kiln.mul %g#1, %one_minus : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
    %bm2 = kiln.add %bm1, %bg1 : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %bs = kiln.mul %bm2, %lr : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
    %b2 = kiln.sub %b, %bs : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %one = kiln.constant {value = dense<1> : tensor<i64>} : () -> tensor<i64>
    %t2 = kiln.add %t, %one : (tensor<i64>, tensor<i64>) -> tensor<i64>
    return %l, %sq, %w2, %wm2, %b2, %bm2, %t2 : tensor<f32>, tensor<f32>, tensor<3x3xf32>, tensor<3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<i64>
  }
  func.func @reset(%wm: tensor<3x3xf32> {kiln.state = "w.m"}) -> (tensor<3x3xf32> {kiln.state = "w.m"}) {
    %z = kiln.constant {value = dense<0.0> : tensor<3x3xf32>} : () -> tensor<3x3xf32>
    return %z : tensor<3x3xf32>
  }
}
