// kiln-compile --precision: the report lists every quantized GEMM operand
// (the forward GEMM's activations in 1x128 tiles and its weight in 128x128
// blocks, the input gradient's, the weight gradient's tokens-long tiles) and
// the bytes they save; the host Executable keeps quantize and scaled_matmul
// steps; the ptx target quantizes the 1x128 tiles with its warp-per-tile
// kernel and runs the forward and input-gradient GEMMs on the fp8
// wgmma kernel (the latter's weight transposed K-major) and decomposes the
// weight gradient's, whose K is the 6 tokens (the kernel's copies need a
// multiple of 16), and without wgmma all three; a policy that does not exist
// is an error naming it.
// RUN: kiln-compile %s --precision=fp8 --precision-report -o %t.kx | FileCheck %s --check-prefix=REPORT
// RUN: kiln-compile %s --precision=fp8 --print-ir -o %t.kx | FileCheck %s --check-prefix=HOST
// RUN: kiln-compile %s --precision=fp8-delayed --precision-report -o %t.kx | FileCheck %s --check-prefix=DELAYED
// RUN: rm -rf %t.dump && kiln-compile %s --precision=fp8 --dump-ir=%t.dump -o %t.kx && FileCheck %s --check-prefix=REPORT < %t.dump/precision-report.txt
// RUN: kiln-compile %s --precision=fp8 --target=ptx --print-ir -o %t.kx | FileCheck %s --check-prefix=PTX
// RUN: kiln-compile %s --precision=fp8 --target=ptx --print-ir -o %t.kx | FileCheck %s --check-prefix=PTXQ
// RUN: kiln-compile %s --precision=fp8 --target=ptx --wgmma=false --print-ir -o %t.kx | FileCheck %s --check-prefix=MMA
// RUN: not kiln-compile %s --precision=fp16 -o %t.kx 2>&1 | FileCheck %s --check-prefix=BAD

// REPORT: precision policy fp8
// REPORT: gemm 1 of up_proj.weight: operand [6, 128] bf16 -> f8E4M3FN, blocks 1x128, 1536 -> 792 bytes
// REPORT-NEXT: gemm 1 of up_proj.weight: weight up_proj.weight [256, 128] bf16 -> f8E4M3FN, blocks 128x128, 65536 -> 32776 bytes
// REPORT-NEXT: gemm 2 of up_proj.weight: operand [6, 256] bf16 -> f8E4M3FN, blocks 1x128, 3072 -> 1584 bytes
// REPORT-NEXT: gemm 2 of up_proj.weight: weight up_proj.weight [256, 128] bf16 -> f8E4M3FN, blocks 128x128, 65536 -> 32776 bytes (the copy listed above)
// REPORT-NEXT: gemm 3 of up_proj.weight: operand [6, 256] bf16 -> f8E4M3FN, blocks 128x1, 3072 -> 2560 bytes
// REPORT-NEXT: gemm 3 of up_proj.weight: operand [6, 128] bf16 -> f8E4M3FN, blocks 128x1, 1536 -> 1280 bytes
// --dump-ir writes the same table as precision-report.txt.
// 744 + 32760 + 1488 + 512 + 256 bytes saved, the weight's copy once:
// REPORT-NEXT: 3 quantized GEMMs; their operands take 35760 fewer bytes (scales included)

// fp8-delayed: the same operands, each with one scale from its history.
// DELAYED: gemm 1 of up_proj.weight: weight up_proj.weight [256, 128] bf16 -> f8E4M3FN, one scale per tensor (delayed, 16-step amax history) over blocks 128x128, 65536 -> 32776 bytes
// DELAYED: gemm 3 of up_proj.weight: operand [6, 128] bf16 -> f8E4M3FN, one scale per tensor (delayed, 16-step amax history) over blocks 128x1
// DELAYED-NEXT: 3 quantized GEMMs; their operands take 35760 fewer bytes

// HOST-COUNT-3: kiln.scaled_matmul
// HOST-NOT: kiln.scaled_matmul
// PTX-COUNT-2: kiln.dispatch kernel "wgmma_scaled_matmul"
// PTX-NOT: kiln.dispatch kernel "wgmma_scaled_matmul"
// The two 1x128 activation quantizes run on the warp-per-tile kernel; the
// weight's 128x128 blocks and the weight gradient's 128x1 tiles decompose.
// PTXQ-COUNT-2: kiln.dispatch kernel "quantize"
// PTXQ-NOT: kiln.dispatch kernel "quantize"
// MMA-NOT: kiln.scaled_matmul
// BAD: kiln-assign-precision: unknown policy 'fp16' (expected bf16, fp8, fp8-delayed or int4)
module attributes {kiln.state = [
    {name = "up_proj.weight", type = tensor<256x128xbf16>, kind = "parameter"}]} {
  func.func @step(%x: tensor<2x3x128xbf16> {kiln.name = "x"},
                  %w: tensor<256x128xbf16> {kiln.state = "up_proj.weight"})
      -> (tensor<f32> {kiln.name = "loss"}, tensor<2x3x128xbf16> {kiln.name = "dx"},
          tensor<256x128xbf16> {kiln.name = "dw"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> tensor<2x3x256xbf16>
    %y2 = kiln.cast %y {to = f32} : (tensor<2x3x256xbf16>) -> tensor<2x3x256xf32>
    %y3 = kiln.mul %y2, %y2 : (tensor<2x3x256xf32>, tensor<2x3x256xf32>) -> tensor<2x3x256xf32>
    %l = kiln.mean %y3 {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<2x3x256xf32>) -> tensor<f32>
    %g:2 = kiln.grad %l, %x, %w : (tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>) -> (tensor<2x3x128xbf16>, tensor<256x128xbf16>)
    return %l, %g#0, %g#1 : tensor<f32>, tensor<2x3x128xbf16>, tensor<256x128xbf16>
  }
}
