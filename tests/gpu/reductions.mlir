// Reductions over several axes (keepdims on and off, full reductions) and
// shape ops, at sizes that are not multiples of the tile.
func.func @main(%x: tensor<5x300x7xf32> {kiln.name = "x"}, %k: tensor<6x9xi64> {kiln.name = "k"})
    -> (tensor<5x7xf32> {kiln.name = "sum_1"}, tensor<5x1x1xf32> {kiln.name = "mean_12_keep"},
        tensor<300xf32> {kiln.name = "max_02"}, tensor<f32> {kiln.name = "min_all"},
        tensor<9xi64> {kiln.name = "int_sum_0"}, tensor<7x5x300xf32> {kiln.name = "transposed"},
        tensor<3x5x300x7xf32> {kiln.name = "broadcast"}, tensor<2x99x4xf32> {kiln.name = "slice"},
        tensor<5x300x7xi64> {kiln.name = "iota"}, tensor<5x314x7xf32> {kiln.name = "concat"},
        tensor<5x6x9x7xf32> {kiln.name = "gather"}, tensor<5x300x7xf32> {kiln.name = "take"}) {
  %sum_1 = kiln.sum %x {axes = array<i64: 1>, keepdims = false} : (tensor<5x300x7xf32>) -> tensor<5x7xf32>
  %mean = kiln.mean %x {axes = array<i64: 1, 2>, keepdims = true} : (tensor<5x300x7xf32>) -> tensor<5x1x1xf32>
  %max = kiln.max %x {axes = array<i64: 0, -1>, keepdims = false} : (tensor<5x300x7xf32>) -> tensor<300xf32>
  %min = kiln.min %x {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<5x300x7xf32>) -> tensor<f32>
  %isum = kiln.sum %k {axes = array<i64: 0>, keepdims = false} : (tensor<6x9xi64>) -> tensor<9xi64>
  %t = kiln.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<5x300x7xf32>) -> tensor<7x5x300xf32>
  %b = kiln.broadcast_to %x {shape = array<i64: 3, 5, 300, 7>} : (tensor<5x300x7xf32>) -> tensor<3x5x300x7xf32>
  %s = kiln.slice %x {start = array<i64: 1, 3, 0>, limit = array<i64: 5, 300, 7>, stride = array<i64: 2, 3, 2>} : (tensor<5x300x7xf32>) -> tensor<2x99x4xf32>
  %io = kiln.iota {dimension = 1 : i64} : () -> tensor<5x300x7xi64>
  %part = kiln.slice %x {start = array<i64: 0, 0, 0>, limit = array<i64: 5, 14, 7>, stride = array<i64: 1, 1, 1>} : (tensor<5x300x7xf32>) -> tensor<5x14x7xf32>
  %cat = kiln.concat %part, %x {axis = 1 : i64} : (tensor<5x14x7xf32>, tensor<5x300x7xf32>) -> tensor<5x314x7xf32>
  %gat = kiln.gather %x, %k {axis = 1 : i64} : (tensor<5x300x7xf32>, tensor<6x9xi64>) -> tensor<5x6x9x7xf32>
  %idx = kiln.iota {dimension = 2 : i64} : () -> tensor<5x300x7xi64>
  %take = kiln.take_along_axis %x, %idx {axis = 1 : i64} : (tensor<5x300x7xf32>, tensor<5x300x7xi64>) -> tensor<5x300x7xf32>
  return %sum_1, %mean, %max, %min, %isum, %t, %b, %s, %io, %cat, %gat, %take : tensor<5x7xf32>, tensor<5x1x1xf32>, tensor<300xf32>, tensor<f32>, tensor<9xi64>, tensor<7x5x300xf32>, tensor<3x5x300x7xf32>, tensor<2x99x4xf32>, tensor<5x300x7xi64>, tensor<5x314x7xf32>, tensor<5x6x9x7xf32>, tensor<5x300x7xf32>
}
