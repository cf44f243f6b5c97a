// Rank-0 forms of the shape ops: a slice and a dynamic_update_slice of a scalar.
func.func @main(%x: tensor<f32> {kiln.name = "x"}, %u: tensor<f32> {kiln.name = "u"},
                %s: tensor<0xi64> {kiln.name = "starts"})
    -> (tensor<f32> {kiln.name = "updated"}, tensor<f32> {kiln.name = "sliced"}) {
  %y = kiln.dynamic_update_slice %x, %u, %s : (tensor<f32>, tensor<f32>, tensor<0xi64>) -> tensor<f32>
  %z = kiln.slice %x {start = array<i64>, limit = array<i64>, stride = array<i64>} : (tensor<f32>) -> tensor<f32>
  %w = kiln.mul %z, %y : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %y, %w : tensor<f32>, tensor<f32>
}
