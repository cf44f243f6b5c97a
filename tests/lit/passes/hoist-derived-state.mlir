// kiln-hoist-derived-state: work that reads only parameters a function does
// not write moves into one entry, kiln.derive_state, whose results are state
// of kind "derived" that the functions read instead. decode and prefill both
// cast the norm weight: one derived state serves both. The train step writes
// the norm weight, so its cast stays. A reshape alone is not worth a state; a
// widening cast larger than max-growth-bytes and than its source (the
// embedding table) stays; the int4 chain (quantize, dequantize, reshape) is
// smaller than its source and goes.
// RUN: kiln-opt %s --kiln-hoist-derived-state=max-growth-bytes=1000 | FileCheck %s
// RUN: kiln-opt %s --kiln-hoist-derived-state | FileCheck %s --check-prefix=LARGE

// With the default 1 MiB the 256 kB f32 table is hoisted too:
// LARGE: name = "derived.embed.weight.0", sources = ["embed.weight"], type = tensor<1000x64xf32>

// CHECK: kiln.state = [
// CHECK-SAME: {entry = "kiln.derive_state", kind = "derived", name = "derived.norm.weight.0", sources = ["norm.weight"], type = tensor<64xf32>}
// CHECK-SAME: {entry = "kiln.derive_state", kind = "derived", name = "derived.proj.weight.0", sources = ["proj.weight"], type = tensor<64x128xbf16>}]
// CHECK-LABEL: func.func @decode
// CHECK-SAME: %[[X:arg0]]: tensor<4x64xf32>
// CHECK-SAME: %[[E:arg3]]: tensor<1000x64xbf16> {kiln.state = "embed.weight"}
// CHECK-SAME: %[[N:arg[0-9]+]]: tensor<64xf32> {kiln.name = "derived.norm.weight.0", kiln.state = "derived.norm.weight.0"}
// CHECK-SAME: %[[P:arg[0-9]+]]: tensor<64x128xbf16> {kiln.name = "derived.proj.weight.0", kiln.state = "derived.proj.weight.0"})
// CHECK-NOT: kiln.quantize
// CHECK: kiln.mul %[[X]], %[[N]]
// CHECK: %[[EF:.*]] = kiln.cast %[[E]] {to = f32}
// CHECK: %[[R:.*]] = kiln.reshape %arg2 {shape = array<i64: 64, 128>}
// CHECK: return {{.*}}%[[EF]], %[[R]], %[[P]]
// CHECK-LABEL: func.func @prefill
// CHECK-SAME: %[[N2:arg[0-9]+]]: tensor<64xf32> {kiln.name = "derived.norm.weight.0", kiln.state = "derived.norm.weight.0"})
// CHECK-NEXT: kiln.mul %arg0, %[[N2]]
// CHECK-LABEL: func.func @train
// CHECK-NOT: derived
// CHECK: kiln.cast %arg1 {to = f32}
// CHECK-LABEL: func.func @kiln.derive_state
// CHECK-SAME: (%[[SN:arg[0-9]+]]: tensor<64xbf16> {kiln.name = "norm.weight", kiln.state = "norm.weight"}, %[[SP:arg[0-9]+]]: tensor<32x256xbf16> {kiln.name = "proj.weight", kiln.state = "proj.weight"})
// CHECK-SAME: -> (tensor<64xf32> {kiln.name = "derived.norm.weight.0", kiln.state = "derived.norm.weight.0"}, tensor<64x128xbf16> {kiln.name = "derived.proj.weight.0", kiln.state = "derived.proj.weight.0"})
// CHECK-NEXT: %[[C:.*]] = kiln.cast %[[SN]] {to = f32}
// CHECK-NEXT: %[[Q:.*]], %[[S:.*]] = kiln.quantize %[[SP]]
// CHECK-NEXT: %[[D:.*]] = kiln.dequantize %[[Q]], %[[S]]
// CHECK-NEXT: %[[DR:.*]] = kiln.reshape %[[D]]
// CHECK-NEXT: return %[[C]], %[[DR]]
module attributes {kiln.state = [
    {name = "norm.weight", type = tensor<64xbf16>, kind = "parameter"},
    {name = "proj.weight", type = tensor<32x256xbf16>, kind = "parameter"},
    {name = "embed.weight", type = tensor<1000x64xbf16>, kind = "parameter"},
    {name = "cache", type = tensor<4x64xf32>, kind = "cache"}]} {
  func.func @decode(%x: tensor<4x64xf32> {kiln.name = "x"},
                    %n: tensor<64xbf16> {kiln.state = "norm.weight"},
                    %w: tensor<32x256xbf16> {kiln.state = "proj.weight"},
                    %e: tensor<1000x64xbf16> {kiln.state = "embed.weight"},
                    %c: tensor<4x64xf32> {kiln.state = "cache"})
      -> (tensor<4x64xf32> {kiln.name = "y"},
          tensor<4x64xf32> {kiln.state = "cache"},
          tensor<1000x64xf32> {kiln.name = "table"},
          tensor<64x128xbf16> {kiln.name = "viewed"},
          tensor<64x128xbf16> {kiln.name = "int4"}) {
    %nf = kiln.cast %n {to = f32} : (tensor<64xbf16>) -> tensor<64xf32>
    %y = kiln.mul %x, %nf : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
    %c2 = kiln.add %c, %y : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
    %ef = kiln.cast %e {to = f32} : (tensor<1000x64xbf16>) -> tensor<1000x64xf32>
    %r = kiln.reshape %w {shape = array<i64: 64, 128>} : (tensor<32x256xbf16>) -> tensor<64x128xbf16>
    %q, %s = kiln.quantize %w {block = array<i64: 1, 128>, dtype = i4} : (tensor<32x256xbf16>) -> (tensor<32x256xi4>, tensor<32x2xf32>)
    %dq = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<32x256xi4>, tensor<32x2xf32>) -> tensor<32x256xbf16>
    %r2 = kiln.reshape %dq {shape = array<i64: 64, 128>} : (tensor<32x256xbf16>) -> tensor<64x128xbf16>
    return %y, %c2, %ef, %r, %r2 : tensor<4x64xf32>, tensor<4x64xf32>, tensor<1000x64xf32>, tensor<64x128xbf16>, tensor<64x128xbf16>
  }
  func.func @prefill(%x: tensor<8x64xf32> {kiln.name = "x"},
                     %n: tensor<64xbf16> {kiln.state = "norm.weight"})
      -> (tensor<8x64xf32> {kiln.name = "y"}) {
    %nf = kiln.cast %n {to = f32} : (tensor<64xbf16>) -> tensor<64xf32>
    %y = kiln.mul %x, %nf : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
    return %y : tensor<8x64xf32>
  }
  func.func @train(%x: tensor<4x64xf32> {kiln.name = "x"},
                   %n: tensor<64xbf16> {kiln.state = "norm.weight"})
      -> (tensor<64xbf16> {kiln.state = "norm.weight"}) {
    %nf = kiln.cast %n {to = f32} : (tensor<64xbf16>) -> tensor<64xf32>
    %y = kiln.mul %x, %nf : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
    %g = kiln.sum %y {axes = array<i64: 0>, keepdims = false} : (tensor<4x64xf32>) -> tensor<64xf32>
    %u = kiln.sub %nf, %g : (tensor<64xf32>, tensor<64xf32>) -> tensor<64xf32>
    %n2 = kiln.cast %u {to = bf16} : (tensor<64xf32>) -> tensor<64xbf16>
    return %n2 : tensor<64xbf16>
  }
}
