//===- ModelGradTest.cpp - finite-difference checks, model composites -----===//
//
// rotary (both layouts, broadcast tables), attention (GQA, causal offsets,
// lengths, a query that sees no key), cross_entropy and token_logprobs; and,
// for the rules that compute narrow types in f32, bf16/f32 gradients against
// f64.
//
//===----------------------------------------------------------------------===//

#include "tests/autodiff/GradCheck.h"

namespace kiln::testing {
namespace {

TEST(ModelGrad, RotaryBothLayoutsWithBroadcastTables) {
  for (bool interleaved : {true, false}) {
    std::string flag = interleaved ? "true" : "false";
    // Tables per position only, shared by batch and heads.
    checkGradients(
        {"rotary shared tables " + flag,
         {normal("tensor<2x2x3x6xf64>", {2, 2, 3, 6}),
          normal("tensor<3x3xf64>", {3, 3}), normal("tensor<3x3xf64>", {3, 3})},
         "  %out = kiln.rotary %a0, %a1, %a2 {interleaved = " + flag +
             "} : (tensor<2x2x3x6xf64>, tensor<3x3xf64>, tensor<3x3xf64>) -> "
             "tensor<2x2x3x6xf64>",
         "tensor<2x2x3x6xf64>",
         {2, 2, 3, 6}});
    // Per-batch tables broadcast over heads, and a sin that is one row.
    checkGradients(
        {"rotary per-batch tables " + flag,
         {normal("tensor<2x2x3x4xf64>", {2, 2, 3, 4}),
          normal("tensor<2x1x3x2xf64>", {2, 1, 3, 2}),
          normal("tensor<1x2xf64>", {1, 2})},
         "  %out = kiln.rotary %a0, %a1, %a2 {interleaved = " + flag +
             "} : (tensor<2x2x3x4xf64>, tensor<2x1x3x2xf64>, tensor<1x2xf64>) "
             "-> "
             "tensor<2x2x3x4xf64>",
         "tensor<2x2x3x4xf64>",
         {2, 2, 3, 4}});
  }
}

TEST(ModelGrad, AttentionPlain) {
  checkGradients(
      {"attention",
       {normal("tensor<1x2x3x4xf64>", {1, 2, 3, 4}),
        normal("tensor<1x2x5x4xf64>", {1, 2, 5, 4}),
        normal("tensor<1x2x5x3xf64>", {1, 2, 5, 3})},
       "  %out = kiln.attention %a0, %a1, %a2 {causal = false, "
       "operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, scale = 0.5 : f64} : "
       "(tensor<1x2x3x4xf64>, tensor<1x2x5x4xf64>, tensor<1x2x5x3xf64>) -> "
       "tensor<1x2x3x3xf64>",
       "tensor<1x2x3x3xf64>",
       {1, 2, 3, 3}});
}

TEST(ModelGrad, AttentionGqaCausalOffsetsAndLengths) {
  // Batch 1 has q_offset -1, so its first query sees no key; batch 0 sees only
  // its first 4 keys.
  checkGradients(
      {"attention gqa causal",
       {normal("tensor<2x4x3x4xf64>", {2, 4, 3, 4}),
        normal("tensor<2x2x5x4xf64>", {2, 2, 5, 4}),
        normal("tensor<2x2x5x3xf64>", {2, 2, 5, 3}),
        fixed("tensor<2xi64>", proto::I64, {2}, {4, 5}),
        fixed("tensor<2xi32>", proto::I32, {2}, {2, -1})},
       "  %out = kiln.attention %a0, %a1, %a2, %a3, %a4 {causal = true, "
       "operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 0.5 : f64} : "
       "(tensor<2x4x3x4xf64>, tensor<2x2x5x4xf64>, tensor<2x2x5x3xf64>, "
       "tensor<2xi64>, tensor<2xi32>) -> tensor<2x4x3x3xf64>",
       "tensor<2x4x3x3xf64>",
       {2, 4, 3, 3}});
  // Lengths only, batch 1 with no key at all.
  checkGradients(
      {"attention lengths",
       {normal("tensor<2x2x2x4xf64>", {2, 2, 2, 4}),
        normal("tensor<2x1x3x4xf64>", {2, 1, 3, 4}),
        normal("tensor<2x1x3x2xf64>", {2, 1, 3, 2}),
        fixed("tensor<2xi64>", proto::I64, {2}, {2, 0})},
       "  %out = kiln.attention %a0, %a1, %a2, %a3 {causal = false, "
       "operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>, scale = 0.7 : f64} : "
       "(tensor<2x2x2x4xf64>, tensor<2x1x3x4xf64>, tensor<2x1x3x2xf64>, "
       "tensor<2xi64>) -> tensor<2x2x2x2xf64>",
       "tensor<2x2x2x2xf64>",
       {2, 2, 2, 2}});
}

TEST(ModelGrad, CrossEntropyAndTokenLogprobsIgnoreOutOfRange) {
  // Labels 7 and -1 are outside [0, 5): their rows get no gradient.
  for (const char *op : {"cross_entropy", "token_logprobs"})
    checkGradients(
        {op,
         {normal("tensor<2x3x5xf64>", {2, 3, 5}),
          fixed("tensor<2x3xi32>", proto::I32, {2, 3}, {1, 7, 0, 4, -1, 2})},
         std::string("  %out = kiln.") + op +
             " %a0, %a1 : (tensor<2x3x5xf64>, tensor<2x3xi32>) -> "
             "tensor<2x3xf64>",
         "tensor<2x3xf64>",
         {2, 3}});
}

// Finite differences cannot see through bf16 rounding, so the narrow paths of
// the rules (widen to f32, round back once) are checked against the f64 rule
// instead: the same op with its float operands cast to `T` and its result cast
// back, differentiated at the same point.
struct NarrowCase {
  std::string name;
  std::vector<GradInput> inputs; // float inputs are read as %x<i> of type T
  std::string op;                // defines %y of type `yType`; "$T" is T
  std::string yType;
  std::vector<int64_t> outShape;
};

std::string substituteType(std::string text, const std::string &element) {
  for (size_t at; (at = text.find("$T")) != std::string::npos;)
    text.replace(at, 2, element);
  return text;
}

std::vector<std::vector<double>>
narrowGradients(const NarrowCase &n, const std::string &element,
                const std::vector<HostTensor> &inputs,
                const std::vector<double> &weights) {
  std::string body;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (n.inputs[i].dtype != proto::F64)
      continue;
    std::string narrow = n.inputs[i].type;
    narrow.replace(narrow.rfind("f64"), 3, "$T");
    body += "  %x" + std::to_string(i) + " = kiln.cast %a" + std::to_string(i) +
            " {to = $T} : (" + n.inputs[i].type + ") -> " + narrow + "\n";
  }
  std::string outType = substituteType(n.yType, "f64");
  body += n.op + "\n  %out = kiln.cast %y {to = f64} : (" + n.yType + ") -> " +
          outType;
  GradCase c{n.name, n.inputs, substituteType(body, element), outType,
             n.outShape};
  std::string text = gradModule(c, weights);
  auto module = IrModule::parse(text, n.name + ".mlir");
  EXPECT_TRUE(module.ok()) << module.status() << "\n" << text;
  if (!module.ok())
    return {};
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status() << "\n" << text;
  if (!exe.ok())
    return {};
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok())
    return {};
  auto results = (*executor)->run("df", inputs);
  EXPECT_TRUE(results.ok()) << results.status();
  if (!results.ok())
    return {};
  std::vector<std::vector<double>> grads;
  for (size_t i = 1; i < results->size(); ++i)
    grads.push_back((*results)[i].toDoubles());
  return grads;
}

void checkNarrowMatchesF64(const NarrowCase &n) {
  SCOPED_TRACE(n.name);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> dist;
  std::vector<HostTensor> inputs;
  for (const GradInput &in : n.inputs) {
    std::vector<double> values = in.values;
    if (in.kind != GradInput::Values) {
      int64_t count = 1;
      for (int64_t d : in.shape)
        count *= d;
      values.resize(count);
      for (double &v : values)
        v = dist(rng);
    }
    inputs.push_back(HostTensor::fromDoubles(in.dtype, in.shape, values));
  }
  int64_t outCount = 1;
  for (int64_t d : n.outShape)
    outCount *= d;
  std::vector<double> weights(outCount);
  for (double &w : weights)
    w = dist(rng);

  auto reference = narrowGradients(n, "f64", inputs, weights);
  for (auto [element, tolerance] :
       {std::pair<const char *, double>{"f32", 1e-4},
        std::pair<const char *, double>{"bf16", 5e-2}}) {
    auto grads = narrowGradients(n, element, inputs, weights);
    ASSERT_EQ(grads.size(), reference.size()) << element;
    for (size_t g = 0; g < grads.size(); ++g) {
      double scale = 1;
      for (double v : reference[g])
        scale = std::max(scale, std::abs(v));
      for (size_t e = 0; e < grads[g].size(); ++e)
        EXPECT_NEAR(grads[g][e], reference[g][e], tolerance * scale)
            << n.name << " in " << element << ": gradient " << g << "[" << e
            << "]";
    }
  }
}

TEST(NarrowPrecisionGrad, MatchesF64) {
  const NarrowCase cases[] = {
      {"softmax",
       {normal("tensor<3x5xf64>", {3, 5})},
       "  %y = kiln.softmax %x0 {axis = -1 : i64} : (tensor<3x5x$T>) -> "
       "tensor<3x5x$T>",
       "tensor<3x5x$T>",
       {3, 5}},
      {"log_softmax",
       {normal("tensor<3x5xf64>", {3, 5})},
       "  %y = kiln.log_softmax %x0 {axis = 0 : i64} : (tensor<3x5x$T>) -> "
       "tensor<3x5x$T>",
       "tensor<3x5x$T>",
       {3, 5}},
      {"logsumexp",
       {normal("tensor<3x5xf64>", {3, 5})},
       "  %y = kiln.logsumexp %x0 {axes = array<i64: 1>, keepdims = false} : "
       "(tensor<3x5x$T>) -> tensor<3x$T>",
       "tensor<3x$T>",
       {3}},
      {"mean max",
       {normal("tensor<3x5xf64>", {3, 5})},
       "  %m = kiln.mean %x0 {axes = array<i64: 0>, keepdims = false} : "
       "(tensor<3x5x$T>) -> tensor<5x$T>\n"
       "  %y = kiln.max %m {axes = array<i64: 0>, keepdims = true} : "
       "(tensor<5x$T>) -> tensor<1x$T>",
       "tensor<1x$T>",
       {1}},
      {"rms_norm",
       {normal("tensor<2x3x8xf64>", {2, 3, 8}), normal("tensor<8xf64>", {8})},
       "  %y = kiln.rms_norm %x0, %x1 {eps = 1.0e-05 : f64} : "
       "(tensor<2x3x8x$T>, tensor<8x$T>) -> tensor<2x3x8x$T>",
       "tensor<2x3x8x$T>",
       {2, 3, 8}},
      {"matmul",
       {normal("tensor<2x3x4xf64>", {2, 3, 4}),
        normal("tensor<5x4xf64>", {5, 4})},
       "  %y = kiln.matmul %x0, %x1 {transpose_a = false, transpose_b = true} "
       ": "
       "(tensor<2x3x4x$T>, tensor<5x4x$T>) -> tensor<2x3x5x$T>",
       "tensor<2x3x5x$T>",
       {2, 3, 5}},
      {"grouped_matmul",
       {normal("tensor<6x3xf64>", {6, 3}),
        normal("tensor<2x3x4xf64>", {2, 3, 4}),
        fixed("tensor<2xi64>", proto::I64, {2}, {2, 5})},
       "  %y = kiln.grouped_matmul %x0, %x1, %a2 {mode = #kiln.grouped_mode<rows>, transpose_w "
       "= false} "
       ": (tensor<6x3x$T>, tensor<2x3x4x$T>, tensor<2xi64>) -> tensor<6x4x$T>",
       "tensor<6x4x$T>",
       {6, 4}},
      {"rotary",
       {normal("tensor<1x2x3x4xf64>", {1, 2, 3, 4}),
        normal("tensor<3x2xf64>", {3, 2}), normal("tensor<3x2xf64>", {3, 2})},
       "  %y = kiln.rotary %x0, %x1, %x2 {interleaved = true} : "
       "(tensor<1x2x3x4x$T>, tensor<3x2x$T>, tensor<3x2x$T>) -> "
       "tensor<1x2x3x4x$T>",
       "tensor<1x2x3x4x$T>",
       {1, 2, 3, 4}},
      {"attention",
       {normal("tensor<2x4x3x4xf64>", {2, 4, 3, 4}),
        normal("tensor<2x2x5x4xf64>", {2, 2, 5, 4}),
        normal("tensor<2x2x5x3xf64>", {2, 2, 5, 3}),
        fixed("tensor<2xi64>", proto::I64, {2}, {4, 5}),
        fixed("tensor<2xi64>", proto::I64, {2}, {2, -1})},
       "  %y = kiln.attention %x0, %x1, %x2, %a3, %a4 {causal = true, "
       "operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>, scale = 0.5 : f64} : "
       "(tensor<2x4x3x4x$T>, tensor<2x2x5x4x$T>, tensor<2x2x5x3x$T>, "
       "tensor<2xi64>, "
       "tensor<2xi64>) -> tensor<2x4x3x3x$T>",
       "tensor<2x4x3x3x$T>",
       {2, 4, 3, 3}},
      {"cross_entropy",
       {normal("tensor<3x6xf64>", {3, 6}),
        fixed("tensor<3xi8>", proto::I8, {3}, {5, 6, 0})},
       "  %y = kiln.cross_entropy %x0, %a1 : (tensor<3x6x$T>, tensor<3xi8>) -> "
       "tensor<3x$T>",
       "tensor<3x$T>",
       {3}},
  };
  for (const NarrowCase &n : cases)
    checkNarrowMatchesF64(n);
}

} // namespace
} // namespace kiln::testing
