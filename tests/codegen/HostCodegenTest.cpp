//===- HostCodegenTest.cpp - structure of host Executables -----------------===//
//
// Checks what the host code generator writes: buffers, steps and attributes, the
// release schedule, state table and donation, and its errors.
//
//===----------------------------------------------------------------------===//

#include "tests/codegen/CompileTestUtil.h"

#include <filesystem>
#include <set>

#include "absl/strings/match.h"

namespace kiln::testing {
namespace {

const char *kStateModule = R"mlir(
module attributes {kiln.state = [
    {name = "w", type = tensor<3x3xf32>, kind = "parameter", init = "normal", a = 0.5 : f64, b = 0.0 : f64, seed = 7 : i64},
    {name = "count", type = tensor<i64>, kind = "other", init = "zeros", a = 0.0 : f64, b = 0.0 : f64, seed = 0 : i64}]} {
  func.func @step(%x: tensor<2x3xf32> {kiln.name = "x"}, %w: tensor<3x3xf32> {kiln.state = "w"})
      -> (tensor<2x3xf32> {kiln.name = "y"}, tensor<3x3xf32> {kiln.state = "w"}) {
    %t = kiln.transpose %w {perm = array<i64: 1, 0>} : (tensor<3x3xf32>) -> tensor<3x3xf32>
    %y = kiln.matmul %x, %t {transpose_a = false, transpose_b = true} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
    %c = kiln.constant {value = dense<[[1.5, 2.0, -1.0]]> : tensor<1x3xbf16>} : () -> tensor<1x3xbf16>
    %cf = kiln.cast %c {to = f32} : (tensor<1x3xbf16>) -> tensor<1x3xf32>
    %w2 = kiln.add %w, %cf : (tensor<3x3xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
    return %y, %w2 : tensor<2x3xf32>, tensor<3x3xf32>
  }
  func.func @read(%w: tensor<3x3xf32> {kiln.state = "w"}) -> (tensor<3x3xf32> {kiln.name = "w"}) {
    return %w : tensor<3x3xf32>
  }
  func.func private @helper(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
})mlir";

TEST(HostCodegen, SplatConstantsAreStoredAsOneElement) {
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<512x512xf32> {kiln.name = "x"}) -> (tensor<512x512xf32> {kiln.name = "y"}) {
      %c = kiln.constant {value = dense<0.75> : tensor<512x512xf32>} : () -> tensor<512x512xf32>
      %y = kiln.add %x, %c : (tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<512x512xf32>
      return %y : tensor<512x512xf32>
    })mlir");
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::TensorLiteral *literal = nullptr;
  for (const proto::Step &step : exe->entries(0).steps())
    if (step.op() == "constant")
      literal = &step.attrs().at("value").tensor();
  ASSERT_NE(literal, nullptr);
  EXPECT_TRUE(literal->splat());
  EXPECT_EQ(literal->data().size(), 4u); // one f32, not 1 MiB
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  HostTensor x(proto::F32, {512, 512});
  for (int64_t i = 0; i < x.numElements(); ++i)
    x.setDouble(i, static_cast<double>(i % 7));
  auto y = (*executor)->run("main", {x});
  ASSERT_TRUE(y.ok()) << y.status();
  for (int64_t i = 0; i < x.numElements(); i += 997)
    EXPECT_EQ((*y)[0].getDouble(i), static_cast<double>(i % 7) + 0.75) << i;
}

// i4 constants, arguments, results and buffers between steps are packed two
// to a byte; the kernels (transpose, add, cast, concat) compute on them
// unpacked.
TEST(HostCodegen, I4RunsPackedBetweenSteps) {
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<2x3xi4> {kiln.name = "x"})
        -> (tensor<3x2xi4> {kiln.name = "t"}, tensor<2x3xf32> {kiln.name = "f"},
            tensor<4x3xi4> {kiln.name = "c"}) {
      %k = kiln.constant {value = dense<[[1, -2, 3], [7, -8, 0]]> : tensor<2x3xi4>} : () -> tensor<2x3xi4>
      %s = kiln.add %x, %k : (tensor<2x3xi4>, tensor<2x3xi4>) -> tensor<2x3xi4>
      %t = kiln.transpose %s {perm = array<i64: 1, 0>} : (tensor<2x3xi4>) -> tensor<3x2xi4>
      %f = kiln.cast %s {to = f32} : (tensor<2x3xi4>) -> tensor<2x3xf32>
      %c = kiln.concat %s, %k {axis = 0 : i64} : (tensor<2x3xi4>, tensor<2x3xi4>) -> tensor<4x3xi4>
      return %t, %f, %c : tensor<3x2xi4>, tensor<2x3xf32>, tensor<4x3xi4>
    })mlir");
  ASSERT_TRUE(exe.ok()) << exe.status();
  for (const proto::Step &step : exe->entries(0).steps())
    if (step.op() == "constant")
      EXPECT_EQ(step.attrs().at("value").tensor().data(),
                std::string("\xe1\x73\x08", 3)); // packed, low nibble first
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  HostTensor x = HostTensor::fromDoubles(proto::I4, {2, 3}, {1, 1, 1, 1, 1, 1});
  auto r = (*executor)->run("main", {x});
  ASSERT_TRUE(r.ok()) << r.status();
  // 7 + 1 wraps to -8.
  EXPECT_EQ((*r)[1].toDoubles(), (std::vector<double>{2, -1, 4, -8, -7, 1}));
  EXPECT_EQ((*r)[0].toDoubles(), (std::vector<double>{2, -8, -1, -7, 4, 1}));
  EXPECT_EQ((*r)[0].layout(), HostTensor::Layout::Packed);
  ASSERT_EQ((*r)[0].byteSize(), 3);
  EXPECT_EQ((*r)[0].data<uint8_t>()[0], 0x82);
  EXPECT_EQ((*r)[2].toDoubles(),
            (std::vector<double>{2, -1, 4, -8, -7, 1, 1, -2, 3, 7, -8, 0}));
  EXPECT_EQ((*r)[2].byteSize(), 6);
}

TEST(HostCodegen, WritesStateTableEntriesAndDonation) {
  auto exe = compileText(kStateModule);
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_EQ(exe->target(), "host");
  EXPECT_EQ(exe->compiler_version(), codegen::kCompilerVersion);
  ASSERT_EQ(exe->state_size(), 2);
  EXPECT_EQ(exe->state(0).name(), "w");
  EXPECT_EQ(exe->state(0).kind(), "parameter");
  EXPECT_EQ(exe->state(0).init().kind(), "normal");
  EXPECT_EQ(exe->state(0).init().a(), 0.5);
  EXPECT_EQ(exe->state(0).init().seed(), 7);
  EXPECT_EQ(exe->state(1).type().dtype(), proto::I64);

  // Private functions are not entry points.
  ASSERT_EQ(exe->entries_size(), 2);
  const proto::EntryPoint &step = exe->entries(0);
  EXPECT_EQ(step.name(), "step");
  ASSERT_EQ(step.arguments_size(), 2);
  EXPECT_EQ(step.arguments(0).name(), "x");
  EXPECT_EQ(step.arguments(0).state(), "");
  EXPECT_EQ(step.arguments(1).state(), "w");
  ASSERT_EQ(step.results_size(), 2);
  EXPECT_EQ(step.results(0).name(), "y");
  EXPECT_EQ(step.results(0).aliases_argument(), -1);
  EXPECT_EQ(step.results(1).state(), "w");
  EXPECT_EQ(step.results(1).aliases_argument(), 1);
  EXPECT_GT(step.peak_bytes(), 0);
}

TEST(HostCodegen, EncodesAttributesAndLiterals) {
  auto exe = compileText(kStateModule);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &step = exe->entries(0);
  std::vector<std::string> ops;
  for (const auto &s : step.steps())
    ops.push_back(s.op());
  // The canonicalizer hoists constants to the top of the entry.
  EXPECT_EQ(ops, (std::vector<std::string>{"constant", "transpose", "matmul", "cast",
                                           "add"}));
  const proto::Step &transpose = step.steps(1);
  ASSERT_TRUE(transpose.attrs().contains("perm"));
  EXPECT_EQ(transpose.attrs().at("perm").ints().values_size(), 2);
  EXPECT_EQ(transpose.attrs().at("perm").ints().values(0), 1);
  EXPECT_TRUE(absl::StrContains(transpose.location(), "test.mlir:"));
  EXPECT_TRUE(step.steps(2).attrs().at("transpose_b").b());
  EXPECT_EQ(step.steps(3).attrs().at("to").type(), proto::F32);

  const proto::TensorLiteral &literal = step.steps(0).attrs().at("value").tensor();
  EXPECT_EQ(literal.type().dtype(), proto::BF16);
  ASSERT_EQ(literal.data().size(), 6u);
  // bf16 1.5 = 0x3FC0, little-endian.
  EXPECT_EQ(static_cast<uint8_t>(literal.data()[0]), 0xC0);
  EXPECT_EQ(static_cast<uint8_t>(literal.data()[1]), 0x3F);
}

TEST(HostCodegen, ReleasesIntermediatesAfterTheirLastUse) {
  auto exe = compileText(kStateModule);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &step = exe->entries(0);
  std::set<int> released;
  for (const auto &s : step.steps())
    for (int id : s.release()) {
      EXPECT_TRUE(released.insert(id).second) << "buffer released twice";
      // Never an argument or a result.
      for (const auto &a : step.arguments())
        EXPECT_NE(a.buffer(), id);
      for (const auto &r : step.results())
        EXPECT_NE(r.buffer(), id);
    }
  // transpose, constant and cast results are intermediates.
  EXPECT_EQ(released.size(), 3u);
  // The transpose result (step 1) dies at the matmul (step 2).
  ASSERT_EQ(step.steps(2).release_size(), 1);
  EXPECT_EQ(step.steps(2).release(0), step.steps(1).outputs(0));
}

TEST(HostCodegen, RunsAndDonatesState) {
  auto exe = compileText(kStateModule);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  ASSERT_TRUE((*executor)->initializeState().ok());
  HostTensor before = *(*executor)->getState("w");
  std::mt19937_64 rng(3);
  HostTensor x = randomTensor(proto::F32, {2, 3}, rng);
  auto y = (*executor)->run("step", {x});
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->size(), 1u);
  // y = x @ (w^T)^T = x @ w.
  auto xv = x.toDoubles(), wv = before.toDoubles(), yv = (*y)[0].toDoubles();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      double acc = 0;
      for (int k = 0; k < 3; ++k)
        acc += xv[i * 3 + k] * wv[k * 3 + j];
      EXPECT_NEAR(yv[i * 3 + j], acc, 1e-5);
    }
  // w was replaced by w + [1.5, 2, -1] (broadcast over rows).
  auto after = (*(*executor)->run("read", std::vector<HostTensor>{}))[0].toDoubles();
  const double row[3] = {1.5, 2.0, -1.0};
  for (int i = 0; i < 9; ++i)
    EXPECT_NEAR(after[i], wv[i] + row[i % 3], 1e-6);
}

TEST(HostCodegen, RejectsNonKilnOpsInEntries) {
  auto exe = compileText(R"mlir(
    func.func private @g(%x: tensor<2xf32>) -> tensor<2xf32>
    func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
      %y = func.call @g(%x) : (tensor<2xf32>) -> tensor<2xf32>
      return %y : tensor<2xf32>
    })mlir");
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "func.call"))
      << exe.status();
}

TEST(HostCodegen, RejectsStateUsedWithTwoTypes) {
  auto exe = compileText(R"mlir(
    func.func @a(%w: tensor<2xf32> {kiln.state = "w"}) -> tensor<2xf32> {
      return %w : tensor<2xf32>
    }
    func.func @b(%w: tensor<3xf32> {kiln.state = "w"}) -> tensor<3xf32> {
      return %w : tensor<3xf32>
    })mlir");
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "state 'w'")) << exe.status();
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "f32[3]")) << exe.status();
}

TEST(HostCodegen, RejectsModulesWithoutEntries) {
  auto exe = compileText("module {}");
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "no public func.func"));
}

TEST(HostCodegen, RejectsInvalidIrWithTheVerifierMessage) {
  auto exe = compileText(R"mlir(
    func.func @main(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
      %y = kiln.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
      return %y : tensor<2x3xf32>
    })mlir");
  ASSERT_FALSE(exe.ok());
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "kiln.add")) << exe.status();
  EXPECT_TRUE(absl::StrContains(exe.status().message(), "tensor<4xf32>"))
      << exe.status();
}

TEST(HostCodegen, DumpsIrAfterEveryPass) {
  std::string dir = ::testing::TempDir() + "/kiln-dump-test";
  std::filesystem::remove_all(dir);
  codegen::CompileOptions options;
  options.dumpIrDir = dir;
  options.decompose = true;
  auto exe = compileText(kStateModule, options);
  ASSERT_TRUE(exe.ok()) << exe.status();
  std::vector<std::string> files;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files,
            (std::vector<std::string>{
                "00-input.mlir", "01-kiln-fuse-moe.mlir", "02-kiln-grad.mlir",
                "03-canonicalize.mlir", "04-cse.mlir", "05-kiln-decompose.mlir",
                "06-canonicalize.mlir", "07-cse.mlir",
                "08-kiln-hoist-derived-state.mlir", "09-symbol-dce.mlir",
                "10-kiln-update-in-place.mlir"}));
}

} // namespace
} // namespace kiln::testing
