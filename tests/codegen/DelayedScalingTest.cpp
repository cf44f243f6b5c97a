//===- DelayedScalingTest.cpp - the fp8-delayed precision policy ----------===//
//
// kiln-lower-precision's delayed scaling, compiled for the host and run step
// by step: each quantized operand gets an amax history (state of kind
// "precision", zeros) that the entry shifts this step's amax into, and its
// scale comes from the history's largest amax, so a step whose inputs grow
// past the history saturates and the next one, having seen them, does not.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "tests/codegen/CompileTestUtil.h"

#include "gtest/gtest.h"

namespace kiln::testing {
namespace {

constexpr char kModule[] = R"mlir(
module attributes {kiln.state = [
    {name = "w", type = tensor<128x256xf32>, kind = "parameter"}]} {
  func.func @step(%x: tensor<4x256xf32> {kiln.name = "x"},
                  %w: tensor<128x256xf32> {kiln.state = "w"})
      -> (tensor<4x128xf32> {kiln.name = "y"}) {
    %y = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<4x256xf32>, tensor<128x256xf32>) -> tensor<4x128xf32>
    return %y : tensor<4x128xf32>
  }
})mlir";

double maxAbs(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::abs(x));
  return m;
}

/// ||got - want|| / ||want||.
double relativeError(const std::vector<double> &got,
                     const std::vector<double> &want) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff += (got[i] - want[i]) * (got[i] - want[i]);
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / norm);
}

TEST(DelayedScaling, HistoriesSetTheScaleOneStepLate) {
  codegen::CompileOptions options;
  options.precision = "fp8-delayed";
  auto exe = compileText(kModule, options);
  ASSERT_TRUE(exe.ok()) << exe.status();
  // The activation's history and the weight's, zeros, kind "precision".
  int histories = 0;
  for (const proto::StateEntry &s : exe->state())
    if (s.kind() == "precision") {
      ++histories;
      EXPECT_EQ(s.init().kind(), "zeros") << s.name();
      ASSERT_EQ(s.type().shape_size(), 1);
      EXPECT_EQ(s.type().shape(0), 16);
    }
  EXPECT_EQ(histories, 2);

  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  ASSERT_TRUE((*executor)->initializeState().ok());
  std::mt19937_64 rng(11);
  HostTensor w = randomTensor(proto::F32, {128, 256}, rng);
  ASSERT_TRUE((*executor)->setState("w", w).ok());
  HostTensor x = randomTensor(proto::F32, {4, 256}, rng);
  std::vector<double> xv = x.toDoubles(), wv = w.toDoubles();
  std::vector<double> exact(4 * 128, 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 128; ++j)
      for (int k = 0; k < 256; ++k)
        exact[i * 128 + j] += xv[i * 256 + k] * wv[j * 256 + k];
  auto history = [&](const char *name) {
    auto h = (*executor)->getState(name);
    EXPECT_TRUE(h.ok()) << h.status();
    return h.ok() ? h->toDoubles() : std::vector<double>(16, -1.0);
  };
  auto step = [&](const HostTensor &in) {
    auto y = (*executor)->run("step", {in});
    EXPECT_TRUE(y.ok()) << y.status();
    return y.ok() ? (*y)[0].toDoubles() : std::vector<double>(4 * 128, 0.0);
  };

  // Step 1: the histories are zero, so the current amax scales (fp8's error).
  std::vector<double> y1 = step(x);
  EXPECT_LT(relativeError(y1, exact), 0.08);
  std::vector<double> hx = history("precision.amax.w.0");
  std::vector<double> hw = history("precision.amax.w.1");
  EXPECT_EQ(hx[0], maxAbs(xv));
  EXPECT_EQ(hw[0], maxAbs(wv));
  for (int i = 1; i < 16; ++i) {
    EXPECT_EQ(hx[i], 0.0);
    EXPECT_EQ(hw[i], 0.0);
  }

  // Step 2: x grows 8x, but the scale still comes from step 1's amax: the
  // quantized x saturates at 448 and the product falls far short of 8x.
  HostTensor big = HostTensor::fromDoubles(proto::F32, {4, 256}, [&] {
    std::vector<double> v(xv);
    for (double &e : v)
      e *= 8;
    return v;
  }());
  std::vector<double> eight(exact);
  for (double &e : eight)
    e *= 8;
  std::vector<double> y2 = step(big);
  EXPECT_GT(relativeError(y2, eight), 0.3);
  hx = history("precision.amax.w.0");
  EXPECT_EQ(hx[0], 8 * maxAbs(xv));
  EXPECT_EQ(hx[1], maxAbs(xv));

  // Step 3: the history has seen the larger amax; fp8's error again.
  std::vector<double> y3 = step(big);
  EXPECT_LT(relativeError(y3, eight), 0.08);
  hx = history("precision.amax.w.0");
  EXPECT_EQ(hx[0], 8 * maxAbs(xv));
  EXPECT_EQ(hx[1], 8 * maxAbs(xv));
  EXPECT_EQ(hx[2], maxAbs(xv));
}

TEST(DelayedScaling, UnknownPolicyNamesTheChoices) {
  codegen::CompileOptions options;
  options.precision = "fp8-late";
  auto exe = compileText(kModule, options);
  ASSERT_FALSE(exe.ok());
  EXPECT_NE(exe.status().message().find("fp8-delayed"), std::string::npos)
      << exe.status();
}

} // namespace
} // namespace kiln::testing
