// put_along_axis (PutAlongAxisKernel.cpp): in place into a donated cache
// (kiln-update-in-place: one launch writing one row a sequence; integer
// inputs are drawn from {0..7}, so every slot is in range), and into a copy
// of a caller's input with indices broadcast along the last dim, duplicates
// along the axis (the later entry wins) and indices past the axis (5..7 of
// 5 slots: nothing written).
module attributes {kiln.state = [
    {name = "cache", type = tensor<4x16x8xbf16>, kind = "cache", init = "normal", a = 1.0, seed = 3}]} {
  func.func @write(%pos: tensor<4x1x1xi64> {kiln.name = "pos"}, %row: tensor<4x1x8xbf16> {kiln.name = "row"},
                   %x: tensor<3x5x6xf32> {kiln.name = "x"}, %idx: tensor<3x4x1xi64> {kiln.name = "idx"},
                   %vals: tensor<3x4x6xf32> {kiln.name = "vals"},
                   %cache: tensor<4x16x8xbf16> {kiln.state = "cache"})
      -> (tensor<4x16x8xbf16> {kiln.state = "cache"}, tensor<4x16x8xf32> {kiln.name = "cache_after"},
          tensor<3x5x6xf32> {kiln.name = "copied"}) {
    %c = kiln.put_along_axis %cache, %pos, %row {axis = 1 : i64} : (tensor<4x16x8xbf16>, tensor<4x1x1xi64>, tensor<4x1x8xbf16>) -> tensor<4x16x8xbf16>
    %cf = kiln.cast %c {to = f32} : (tensor<4x16x8xbf16>) -> tensor<4x16x8xf32>
    %p = kiln.put_along_axis %x, %idx, %vals {axis = -2 : i64} : (tensor<3x5x6xf32>, tensor<3x4x1xi64>, tensor<3x4x6xf32>) -> tensor<3x5x6xf32>
    return %c, %cf, %p : tensor<4x16x8xbf16>, tensor<4x16x8xf32>, tensor<3x5x6xf32>
  }
}
