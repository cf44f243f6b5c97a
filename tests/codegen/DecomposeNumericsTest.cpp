//===- DecomposeNumericsTest.cpp - composites equal their decompositions
//---===//
//
// Each composite op runs twice on the CPU executor on the same fresh random
// inputs: once as its fused kernel, once after kiln-decompose rewrote it into
// primitives. The two must agree, which checks the decomposition and the fused
// kernel together.
//
//===----------------------------------------------------------------------===//

#include <limits>

#include "ir/IrModule.h"
#include "tests/codegen/CompileTestUtil.h"

#include "mlir/IR/BuiltinOps.h"

namespace kiln::testing {
namespace {

struct Case {
  const char *name;
  const char *ir;
  std::vector<HostTensor> (*inputs)(std::mt19937_64 &);
  double tolerance;
};

std::vector<HostTensor> quantizeInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::BF16, {6, 300}, rng, 4.0)};
}

std::vector<HostTensor> scaledMatmulInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::BF16, {6, 300}, rng, 2.0),
          randomTensor(proto::BF16, {10, 300}, rng, 0.5)};
}

std::vector<HostTensor> softmaxInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::F32, {3, 5, 7}, rng, 3.0)};
}

std::vector<HostTensor> bf16SoftmaxInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::BF16, {4, 9}, rng, 3.0)};
}

std::vector<HostTensor> rmsNormInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::F32, {2, 3, 8}, rng),
          randomTensor(proto::F32, {8}, rng)};
}

std::vector<HostTensor> rotaryInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::F32, {2, 3, 5, 8}, rng),
          randomTensor(proto::F32, {5, 4}, rng),
          randomTensor(proto::F32, {5, 4}, rng)};
}

std::vector<HostTensor> attentionInputs(std::mt19937_64 &rng) {
  return {randomTensor(proto::F32, {2, 4, 3, 8}, rng),
          randomTensor(proto::F32, {2, 2, 6, 8}, rng),
          randomTensor(proto::F32, {2, 2, 6, 5}, rng),
          intTensor(proto::I64, {2}, {6, 2}),
          intTensor(proto::I64, {2}, {3, 0})};
}

std::vector<HostTensor> crossEntropyInputs(std::mt19937_64 &rng) {
  // The last label is out of range: both forms must give 0 there.
  return {randomTensor(proto::F32, {2, 3, 11}, rng, 2.0),
          intTensor(proto::I64, {2, 3}, {0, 10, 4, 7, 3, 11})};
}

/// Scores in {0, 0.25, ..., 1.75} and a bias in {0, 0.5}: many ties, so
/// topk's tie order decides both the groups and the experts.
std::vector<HostTensor> moeRouteInputs(std::mt19937_64 &rng) {
  std::uniform_int_distribution<int> level(0, 7), bit(0, 1);
  std::vector<double> scores(6 * 16), bias(16);
  for (double &v : scores)
    v = 0.25 * level(rng);
  for (double &v : bias)
    v = 0.5 * bit(rng);
  return {HostTensor::fromDoubles(proto::F32, {6, 16}, scores),
          HostTensor::fromDoubles(proto::F32, {16}, bias),
          randomTensor(proto::F32, {5, 16}, rng, 2.0)};
}

const Case kCases[] = {
    {"softmax", R"mlir(
      func.func @main(%x: tensor<3x5x7xf32>) -> (tensor<3x5x7xf32>, tensor<3x5x7xf32>) {
        %a = kiln.softmax %x {axis = 1 : i64} : (tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
        %b = kiln.log_softmax %x {axis = -1 : i64} : (tensor<3x5x7xf32>) -> tensor<3x5x7xf32>
        return %a, %b : tensor<3x5x7xf32>, tensor<3x5x7xf32>
      })mlir",
     softmaxInputs, 1e-5},
    {"softmax_bf16", R"mlir(
      func.func @main(%x: tensor<4x9xbf16>) -> tensor<4x9xbf16> {
        %a = kiln.softmax %x {axis = 1 : i64} : (tensor<4x9xbf16>) -> tensor<4x9xbf16>
        return %a : tensor<4x9xbf16>
      })mlir",
     bf16SoftmaxInputs, 4e-3},
    {"rms_norm", R"mlir(
      func.func @main(%x: tensor<2x3x8xf32>, %w: tensor<8xf32>) -> tensor<2x3x8xf32> {
        %y = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
        return %y : tensor<2x3x8xf32>
      })mlir",
     rmsNormInputs, 1e-5},
    {"rotary", R"mlir(
      func.func @main(%x: tensor<2x3x5x8xf32>, %c: tensor<5x4xf32>, %s: tensor<5x4xf32>) -> (tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>) {
        %a = kiln.rotary %x, %c, %s {interleaved = true} : (tensor<2x3x5x8xf32>, tensor<5x4xf32>, tensor<5x4xf32>) -> tensor<2x3x5x8xf32>
        %b = kiln.rotary %x, %c, %s {interleaved = false} : (tensor<2x3x5x8xf32>, tensor<5x4xf32>, tensor<5x4xf32>) -> tensor<2x3x5x8xf32>
        return %a, %b : tensor<2x3x5x8xf32>, tensor<2x3x5x8xf32>
      })mlir",
     rotaryInputs, 1e-5},
    {"attention", R"mlir(
      func.func @main(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x6x8xf32>, %v: tensor<2x2x6x5xf32>,
                      %len: tensor<2xi64>, %off: tensor<2xi64>) -> (tensor<2x4x3x5xf32>, tensor<2x4x3x5xf32>) {
        %a = kiln.attention %q, %k, %v, %len, %off {scale = 0.3 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<2x4x3x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x5xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x4x3x5xf32>
        %b = kiln.attention %q, %k, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x4x3x8xf32>, tensor<2x2x6x8xf32>, tensor<2x2x6x5xf32>) -> tensor<2x4x3x5xf32>
        return %a, %b : tensor<2x4x3x5xf32>, tensor<2x4x3x5xf32>
      })mlir",
     attentionInputs, 1e-5},
    {"cross_entropy", R"mlir(
      func.func @main(%l: tensor<2x3x11xf32>, %t: tensor<2x3xi64>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
        %a = kiln.cross_entropy %l, %t : (tensor<2x3x11xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
        %b = kiln.token_logprobs %l, %t : (tensor<2x3x11xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
        return %a, %b : tensor<2x3xf32>, tensor<2x3xf32>
      })mlir",
     crossEntropyInputs, 1e-5},
    // Exact: the same choices and the same roundings in the same order.
    {"moe_route", R"mlir(
      func.func @main(%tied: tensor<6x16xf32>, %bias: tensor<16xf32>, %s: tensor<5x16xf32>)
          -> (tensor<6x3xi64>, tensor<6x3xf32>, tensor<5x4xi64>, tensor<5x4xf32>) {
        %a:2 = kiln.moe_route %tied, %bias {num_groups = 4 : i64, topk_group = 2 : i64, top_k = 3 : i64, normalize = true, epsilon = 1.0e-20 : f64, scaling = 2.5 : f64} : (tensor<6x16xf32>, tensor<16xf32>) -> (tensor<6x3xi64>, tensor<6x3xf32>)
        %b:2 = kiln.moe_route %s, %bias {num_groups = 2 : i64, topk_group = 1 : i64, top_k = 4 : i64, normalize = false, epsilon = 0.0 : f64, scaling = 1.5 : f64} : (tensor<5x16xf32>, tensor<16xf32>) -> (tensor<5x4xi64>, tensor<5x4xf32>)
        return %a#0, %a#1, %b#0, %b#1 : tensor<6x3xi64>, tensor<6x3xf32>, tensor<5x4xi64>, tensor<5x4xf32>
      })mlir",
     moeRouteInputs, 0.0},
    // Exact: the same amax, the same divisions, the same roundings (float8
    // and int4, a partial last block of 44 columns).
    {"quantize", R"mlir(
      func.func @main(%x: tensor<6x300xbf16>) -> (tensor<6x300xf32>, tensor<6x3xf32>, tensor<6x300xf32>, tensor<6x300xf32>, tensor<1x3xf32>) {
        %q, %s = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<6x300xbf16>) -> (tensor<6x300xf8E4M3FN>, tensor<6x3xf32>)
        %qf = kiln.cast %q {to = f32} : (tensor<6x300xf8E4M3FN>) -> tensor<6x300xf32>
        %d = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = f32} : (tensor<6x300xf8E4M3FN>, tensor<6x3xf32>) -> tensor<6x300xf32>
        %q4, %s4 = kiln.quantize %x {block = array<i64: 128, 128>, dtype = i4} : (tensor<6x300xbf16>) -> (tensor<6x300xi4>, tensor<1x3xf32>)
        %q4f = kiln.cast %q4 {to = f32} : (tensor<6x300xi4>) -> tensor<6x300xf32>
        return %qf, %s, %d, %q4f, %s4 : tensor<6x300xf32>, tensor<6x3xf32>, tensor<6x300xf32>, tensor<6x300xf32>, tensor<1x3xf32>
      })mlir",
     quantizeInputs, 0.0},
    // Float8 products are exact in f32; only the order of each K block's
    // f32 sum may differ. The third product is a weight gradient's: both
    // operands K-major in their stored layout ([K, M] and [K, N]), K = 6 in
    // blocks of 4 (a partial last block).
    {"scaled_matmul", R"mlir(
      func.func @main(%x: tensor<6x300xbf16>, %w: tensor<10x300xbf16>) -> (tensor<6x10xf32>, tensor<10x6xf32>, tensor<300x300xf32>) {
        %qx, %sx = kiln.quantize %x {block = array<i64: 1, 128>, dtype = f8E4M3FN} : (tensor<6x300xbf16>) -> (tensor<6x300xf8E4M3FN>, tensor<6x3xf32>)
        %qw, %sw = kiln.quantize %w {block = array<i64: 128, 128>, dtype = f8E5M2} : (tensor<10x300xbf16>) -> (tensor<10x300xf8E5M2>, tensor<1x3xf32>)
        %y = kiln.scaled_matmul %qx, %sx, %qw, %sw {a_block = array<i64: 1, 128>, b_block = array<i64: 128, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<6x300xf8E4M3FN>, tensor<6x3xf32>, tensor<10x300xf8E5M2>, tensor<1x3xf32>) -> tensor<6x10xf32>
        %z = kiln.scaled_matmul %qw, %sw, %qx, %sx {a_block = array<i64: 128, 128>, b_block = array<i64: 1, 128>, transpose_a = false, transpose_b = true, dtype = f32} : (tensor<10x300xf8E5M2>, tensor<1x3xf32>, tensor<6x300xf8E4M3FN>, tensor<6x3xf32>) -> tensor<10x6xf32>
        %xt, %st = kiln.quantize %x {block = array<i64: 4, 1>, dtype = f8E4M3FN} : (tensor<6x300xbf16>) -> (tensor<6x300xf8E4M3FN>, tensor<2x300xf32>)
        %xb, %sb = kiln.quantize %x {block = array<i64: 4, 128>, dtype = f8E5M2} : (tensor<6x300xbf16>) -> (tensor<6x300xf8E5M2>, tensor<2x3xf32>)
        %g = kiln.scaled_matmul %xt, %st, %xb, %sb {a_block = array<i64: 4, 1>, b_block = array<i64: 4, 128>, transpose_a = true, transpose_b = false, dtype = f32} : (tensor<6x300xf8E4M3FN>, tensor<2x300xf32>, tensor<6x300xf8E5M2>, tensor<2x3xf32>) -> tensor<300x300xf32>
        return %y, %z, %g : tensor<6x10xf32>, tensor<10x6xf32>, tensor<300x300xf32>
      })mlir",
     scaledMatmulInputs, 1e-4},
};

class DecomposeNumerics : public ::testing::TestWithParam<Case> {};

TEST_P(DecomposeNumerics, FusedKernelEqualsDecomposition) {
  const Case &c = GetParam();
  std::mt19937_64 rng(std::hash<std::string>()(c.name));
  std::vector<HostTensor> inputs = c.inputs(rng);
  codegen::CompileOptions fused, decomposed;
  decomposed.decompose = true;
  auto exe = compileText(c.ir, decomposed);
  ASSERT_TRUE(exe.ok()) << exe.status();
  for (const auto &step : exe->entries(0).steps())
    EXPECT_NE(step.op(), c.name) << "the composite survived kiln-decompose";
  auto a = compileAndRun(c.ir, inputs, fused);
  auto b = compileAndRun(c.ir, inputs, decomposed);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_LE(maxAbsDiff(a[i], b[i]), c.tolerance) << c.name << " result " << i;
}

INSTANTIATE_TEST_SUITE_P(Composites, DecomposeNumerics,
                         ::testing::ValuesIn(kCases), [](const auto &info) {
                           return std::string(info.param.name);
                         });

} // namespace
} // namespace kiln::testing
