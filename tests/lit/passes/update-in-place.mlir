// kiln-update-in-place: a put_along_axis writes into x's buffer when x dies
// there and the entry may write it (passes/UpdateInPlace.cpp).
// RUN: kiln-opt %s --kiln-update-in-place --split-input-file | FileCheck %s

// A donated cache (state the entry reads and returns) and a kernel's own
// output are written in place.
// CHECK-LABEL: func.func @donated_cache
// CHECK: kiln.put_along_axis %arg0, %{{.*}}, %{{.*}} {axis = 1 : i64, kiln.in_place}
// CHECK: %[[N:.*]] = kiln.neg
// CHECK: kiln.put_along_axis %[[N]], %{{.*}}, %{{.*}} {axis = 1 : i64, kiln.in_place}
func.func @donated_cache(%cache: tensor<2x8x4xbf16> {kiln.state = "cache"}, %pos: tensor<2x1x1xi64>,
                         %row: tensor<2x1x4xbf16>, %y: tensor<2x8x4xbf16>)
    -> (tensor<2x8x4xbf16> {kiln.state = "cache"}, tensor<2x8x4xbf16>) {
  %c = kiln.put_along_axis %cache, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  %n = kiln.neg %y : (tensor<2x8x4xbf16>) -> tensor<2x8x4xbf16>
  %m = kiln.put_along_axis %n, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  return %c, %m : tensor<2x8x4xbf16>, tensor<2x8x4xbf16>
}

// -----

// Never in place: a caller's input, state the entry does not return, an x
// read again after the put, a reshape (another value's buffer) and a
// constant.
// CHECK-LABEL: func.func @not_in_place
// CHECK-NOT: kiln.in_place
func.func @not_in_place(%x: tensor<2x8x4xbf16>, %ro: tensor<2x8x4xbf16> {kiln.state = "ro"},
                        %pos: tensor<2x1x1xi64>, %row: tensor<2x1x4xbf16>, %flat: tensor<64xbf16>)
    -> (tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>) {
  %a = kiln.put_along_axis %x, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  %b = kiln.put_along_axis %ro, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  %n = kiln.neg %x : (tensor<2x8x4xbf16>) -> tensor<2x8x4xbf16>
  %c = kiln.put_along_axis %n, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  %r = kiln.reshape %flat {shape = array<i64: 2, 8, 4>} : (tensor<64xbf16>) -> tensor<2x8x4xbf16>
  %d = kiln.put_along_axis %r, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  %z = kiln.constant {value = dense<0.0> : tensor<2x8x4xbf16>} : () -> tensor<2x8x4xbf16>
  %e = kiln.put_along_axis %z, %pos, %row {axis = 1 : i64} : (tensor<2x8x4xbf16>, tensor<2x1x1xi64>, tensor<2x1x4xbf16>) -> tensor<2x8x4xbf16>
  return %a, %b, %c, %n, %d, %e : tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>, tensor<2x8x4xbf16>
}
