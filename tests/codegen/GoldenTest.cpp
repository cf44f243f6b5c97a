//===- GoldenTest.cpp - ops with semantic choices against PyTorch ---------===//
//
// tests/fixtures/golden/golden_ops.json was written by make_golden.py (beside it)
// with PyTorch on the GPU machine. Each case here compiles the op from IR through
// the host pipeline, runs it on the CPU executor with the fixture's inputs, and
// compares with PyTorch's outputs: bit-exact where the ODS description pins the
// result (casts, tie orders), within a float tolerance elsewhere.
//
//===----------------------------------------------------------------------===//

#include <fstream>

#include "nlohmann/json.hpp"
#include "tests/codegen/CompileTestUtil.h"

namespace kiln::testing {
namespace {

struct GoldenCase {
  const char *name;
  const char *ir;
  double tolerance; // 0 = exact; relative to max(1, |reference|) otherwise
};

const GoldenCase kGolden[] = {
    {"gelu", R"(func.func @main(%x: tensor<97xf32>) -> tensor<97xf32> {
       %y = kiln.gelu %x : (tensor<97xf32>) -> tensor<97xf32>
       return %y : tensor<97xf32> })", 1e-6},
    {"silu", R"(func.func @main(%x: tensor<97xf32>) -> tensor<97xf32> {
       %y = kiln.silu %x : (tensor<97xf32>) -> tensor<97xf32>
       return %y : tensor<97xf32> })", 1e-6},
    {"cast_bf16", R"(func.func @main(%x: tensor<133xf32>) -> tensor<133xbf16> {
       %y = kiln.cast %x {to = bf16} : (tensor<133xf32>) -> tensor<133xbf16>
       return %y : tensor<133xbf16> })", 0},
    {"cast_f16", R"(func.func @main(%x: tensor<133xf32>) -> tensor<133xf16> {
       %y = kiln.cast %x {to = f16} : (tensor<133xf32>) -> tensor<133xf16>
       return %y : tensor<133xf16> })", 0},
    {"cast_f8E4M3FN", R"(func.func @main(%x: tensor<133xf32>) -> tensor<133xf8E4M3FN> {
       %y = kiln.cast %x {to = f8E4M3FN} : (tensor<133xf32>) -> tensor<133xf8E4M3FN>
       return %y : tensor<133xf8E4M3FN> })", 0},
    {"cast_f8E5M2", R"(func.func @main(%x: tensor<132xf32>) -> tensor<132xf8E5M2> {
       %y = kiln.cast %x {to = f8E5M2} : (tensor<132xf32>) -> tensor<132xf8E5M2>
       return %y : tensor<132xf8E5M2> })", 0},
    {"cast_i32", R"(func.func @main(%x: tensor<40xf32>) -> tensor<40xi32> {
       %y = kiln.cast %x {to = i32} : (tensor<40xf32>) -> tensor<40xi32>
       return %y : tensor<40xi32> })", 0},
    {"topk", R"(func.func @main(%x: tensor<4x10xf32>) -> (tensor<4x4xf32>, tensor<4x4xi64>) {
       %v, %i = kiln.topk %x {k = 4 : i64} : (tensor<4x10xf32>) -> (tensor<4x4xf32>, tensor<4x4xi64>)
       return %v, %i : tensor<4x4xf32>, tensor<4x4xi64> })", 0},
    {"sort_ascending", R"(func.func @main(%x: tensor<4x10xf32>) -> tensor<4x10xf32> {
       %y = kiln.sort %x {axis = -1 : i64, descending = false} : (tensor<4x10xf32>) -> tensor<4x10xf32>
       return %y : tensor<4x10xf32> })", 0},
    {"argsort_ascending", R"(func.func @main(%x: tensor<4x10xf32>) -> tensor<4x10xi64> {
       %y = kiln.argsort %x {axis = 1 : i64, descending = false} : (tensor<4x10xf32>) -> tensor<4x10xi64>
       return %y : tensor<4x10xi64> })", 0},
    {"argsort_descending", R"(func.func @main(%x: tensor<4x10xf32>) -> tensor<4x10xi64> {
       %y = kiln.argsort %x {axis = 1 : i64, descending = true} : (tensor<4x10xf32>) -> tensor<4x10xi64>
       return %y : tensor<4x10xi64> })", 0},
    // f32 accumulation and one rounding: at most one bf16 ulp (2^-7 relative) apart
    // where summation order differs.
    {"matmul_bf16", R"(func.func @main(%a: tensor<17x33xbf16>, %b: tensor<33x9xbf16>) -> tensor<17x9xbf16> {
       %y = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<17x33xbf16>, tensor<33x9xbf16>) -> tensor<17x9xbf16>
       return %y : tensor<17x9xbf16> })", 0.0079},
    {"softmax", R"(func.func @main(%x: tensor<5x13xf32>) -> tensor<5x13xf32> {
       %y = kiln.softmax %x {axis = -1 : i64} : (tensor<5x13xf32>) -> tensor<5x13xf32>
       return %y : tensor<5x13xf32> })", 1e-6},
    {"log_softmax", R"(func.func @main(%x: tensor<5x13xf32>) -> tensor<5x13xf32> {
       %y = kiln.log_softmax %x {axis = 1 : i64} : (tensor<5x13xf32>) -> tensor<5x13xf32>
       return %y : tensor<5x13xf32> })", 1e-6},
    {"logsumexp", R"(func.func @main(%x: tensor<5x13xf32>) -> tensor<5xf32> {
       %y = kiln.logsumexp %x {axes = array<i64: -1>, keepdims = false} : (tensor<5x13xf32>) -> tensor<5xf32>
       return %y : tensor<5xf32> })", 1e-6},
    {"cumsum", R"(func.func @main(%x: tensor<5x13xf32>) -> tensor<5x13xf32> {
       %y = kiln.cumsum %x {axis = 1 : i64, exclusive = false, reverse = false} : (tensor<5x13xf32>) -> tensor<5x13xf32>
       return %y : tensor<5x13xf32> })", 1e-6},
    {"rms_norm", R"(func.func @main(%x: tensor<3x16xf32>, %w: tensor<16xf32>) -> tensor<3x16xf32> {
       %y = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<3x16xf32>, tensor<16xf32>) -> tensor<3x16xf32>
       return %y : tensor<3x16xf32> })", 1e-6},
    {"cross_entropy", R"(func.func @main(%l: tensor<6x11xf32>, %t: tensor<6xi64>) -> tensor<6xf32> {
       %y = kiln.cross_entropy %l, %t : (tensor<6x11xf32>, tensor<6xi64>) -> tensor<6xf32>
       return %y : tensor<6xf32> })", 1e-6},
    {"attention", R"(func.func @main(%q: tensor<2x4x5x8xf32>, %k: tensor<2x2x7x8xf32>, %v: tensor<2x2x7x6xf32>, %len: tensor<2xi64>, %off: tensor<2xi64>) -> tensor<2x4x5x6xf32> {
       %y = kiln.attention %q, %k, %v, %len, %off {scale = 0.3 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>} : (tensor<2x4x5x8xf32>, tensor<2x2x7x8xf32>, tensor<2x2x7x6xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x4x5x6xf32>
       return %y : tensor<2x4x5x6xf32> })", 1e-5},
};

const nlohmann::json &fixture() {
  static const nlohmann::json json = [] {
    std::ifstream in(KILN_SOURCE_DIR "/tests/fixtures/golden/golden_ops.json");
    EXPECT_TRUE(in.good()) << "missing golden_ops.json";
    return in.good() ? nlohmann::json::parse(in) : nlohmann::json();
  }();
  return json;
}

HostTensor fromJson(const nlohmann::json &t) {
  auto dtype = parseDType(t["dtype"].get<std::string>());
  EXPECT_TRUE(dtype.has_value()) << t["dtype"];
  std::vector<double> values;
  for (const auto &v : t["values"])
    values.push_back(v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>());
  return HostTensor::fromDoubles(*dtype, t["shape"].get<std::vector<int64_t>>(), values);
}

class Golden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(Golden, MatchesPyTorch) {
  const GoldenCase &c = GetParam();
  ASSERT_TRUE(fixture()["cases"].contains(c.name)) << c.name;
  const nlohmann::json &json = fixture()["cases"][c.name];
  std::vector<HostTensor> inputs;
  for (const auto &t : json["inputs"])
    inputs.push_back(fromJson(t));
  std::vector<HostTensor> results = compileAndRun(c.ir, inputs);
  ASSERT_EQ(results.size(), json["outputs"].size());
  for (size_t r = 0; r < results.size(); ++r) {
    HostTensor expected = fromJson(json["outputs"][r]);
    ASSERT_EQ(results[r].typeString(), expected.typeString());
    auto got = results[r].toDoubles(), want = expected.toDoubles();
    for (size_t i = 0; i < want.size(); ++i) {
      if (c.tolerance == 0)
        EXPECT_EQ(got[i], want[i]) << c.name << " result " << r << " element " << i
                                   << " input " << inputs[0].toDoubles()[i % inputs[0].numElements()];
      else
        EXPECT_LE(std::abs(got[i] - want[i]), c.tolerance * std::max(1.0, std::abs(want[i])))
            << c.name << " result " << r << " element " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Golden, ::testing::ValuesIn(kGolden),
                         [](const auto &info) { return std::string(info.param.name); });

} // namespace
} // namespace kiln::testing
