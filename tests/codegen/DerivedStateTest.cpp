//===- DerivedStateTest.cpp - kiln-hoist-derived-state end to end ---------===//
//
// A decode-like entry casts a norm weight and quantizes a projection to int4
// on every call; a train-like entry writes both. With the pass, the cast and
// the quantization run in kiln.derive_state, once per parameter version: the
// executor recomputes them after the train step or a setState of a source,
// so every decode result matches the unhoisted program bit for bit. Derived
// state is not settable and not checkpointed.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <random>

#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/ExecutableQueries.h"
#include "executor/Executor.h"
#include "tests/codegen/CompileTestUtil.h"

#include "gtest/gtest.h"

namespace kiln::testing {
namespace {

constexpr char kModule[] = R"mlir(
module attributes {kiln.state = [
    {name = "norm", type = tensor<256xbf16>, kind = "parameter", init = "ones"},
    {name = "proj", type = tensor<64x256xbf16>, kind = "parameter", init = "normal", a = 0.05, seed = 7}]} {
  func.func @decode(%x: tensor<4x256xf32> {kiln.name = "x"},
                    %n: tensor<256xbf16> {kiln.state = "norm"},
                    %w: tensor<64x256xbf16> {kiln.state = "proj"})
      -> (tensor<4x64xf32> {kiln.name = "y"}) {
    %nf = kiln.cast %n {to = f32} : (tensor<256xbf16>) -> tensor<256xf32>
    %h = kiln.mul %x, %nf : (tensor<4x256xf32>, tensor<256xf32>) -> tensor<4x256xf32>
    %hb = kiln.cast %h {to = bf16} : (tensor<4x256xf32>) -> tensor<4x256xbf16>
    %q, %s = kiln.quantize %w {block = array<i64: 1, 128>, dtype = i4} : (tensor<64x256xbf16>) -> (tensor<64x256xi4>, tensor<64x2xf32>)
    %wd = kiln.dequantize %q, %s {block = array<i64: 1, 128>, dtype = bf16} : (tensor<64x256xi4>, tensor<64x2xf32>) -> tensor<64x256xbf16>
    %y = kiln.matmul %hb, %wd {transpose_a = false, transpose_b = true} : (tensor<4x256xbf16>, tensor<64x256xbf16>) -> tensor<4x64xbf16>
    %yf = kiln.cast %y {to = f32} : (tensor<4x64xbf16>) -> tensor<4x64xf32>
    return %yf : tensor<4x64xf32>
  }
  func.func @train(%g: tensor<64x256xf32> {kiln.name = "g"},
                   %n: tensor<256xbf16> {kiln.state = "norm"},
                   %w: tensor<64x256xbf16> {kiln.state = "proj"})
      -> (tensor<256xbf16> {kiln.state = "norm"},
          tensor<64x256xbf16> {kiln.state = "proj"}) {
    %wf = kiln.cast %w {to = f32} : (tensor<64x256xbf16>) -> tensor<64x256xf32>
    %w2 = kiln.sub %wf, %g : (tensor<64x256xf32>, tensor<64x256xf32>) -> tensor<64x256xf32>
    %wb = kiln.cast %w2 {to = bf16} : (tensor<64x256xf32>) -> tensor<64x256xbf16>
    %gs = kiln.sum %g {axes = array<i64: 0>, keepdims = false} : (tensor<64x256xf32>) -> tensor<256xf32>
    %nf = kiln.cast %n {to = f32} : (tensor<256xbf16>) -> tensor<256xf32>
    %n2 = kiln.add %nf, %gs : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
    %nb = kiln.cast %n2 {to = bf16} : (tensor<256xf32>) -> tensor<256xbf16>
    return %nb, %wb : tensor<256xbf16>, tensor<64x256xbf16>
  }
})mlir";

std::unique_ptr<Executor> load(bool hoist) {
  codegen::CompileOptions options;
  options.hoistDerivedState = hoist;
  return startExecutor(compileText(kModule, options));
}

std::vector<std::string> derivedNames(const EntryRunner &executor) {
  std::vector<std::string> names;
  for (const proto::StateEntry &s : executor.executable().state())
    if (isDerivedState(s))
      names.push_back(s.name());
  return names;
}

bool sameBits(const HostTensor &a, const HostTensor &b) {
  return a.typeString() == b.typeString() && a.byteSize() == b.byteSize() &&
         std::memcmp(a.data<uint8_t>(), b.data<uint8_t>(), a.byteSize()) == 0;
}

TEST(DerivedState, RecomputedAfterEveryWriteOfASource) {
  auto hoisted = load(true);
  auto plain = load(false);
  ASSERT_TRUE(hoisted && plain);
  // The norm cast and the int4 weight chain: two derived states from one
  // derive entry; the plain program has none.
  std::vector<std::string> derived = derivedNames(*hoisted);
  ASSERT_EQ(derived.size(), 2u);
  EXPECT_TRUE(derivedNames(*plain).empty());
  ASSERT_NE(hoisted->entry("kiln.derive_state"), nullptr);

  std::mt19937_64 rng(11);
  HostTensor x = randomTensor(proto::F32, {4, 256}, rng);
  HostTensor g = randomTensor(proto::F32, {64, 256}, rng, 0.02);
  auto decodeBoth = [&](const char *when) {
    auto a = hoisted->run("decode", {x});
    auto b = plain->run("decode", {x});
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(sameBits((*a)[0], (*b)[0]))
        << when << ": max |delta| " << maxAbsDiff((*a)[0], (*b)[0]);
  };
  decodeBoth("first call");
  auto before = hoisted->getState(derived[1]);
  ASSERT_TRUE(before.ok()) << before.status();
  decodeBoth("second call, nothing written");

  ASSERT_TRUE(hoisted->run("train", {g}).ok());
  ASSERT_TRUE(plain->run("train", {g}).ok());
  decodeBoth("after a train step");
  auto after = hoisted->getState(derived[1]);
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(sameBits(*before, *after))
      << "the train step's write left " << derived[1] << " as it was";

  HostTensor norm = randomTensor(proto::BF16, {256}, rng);
  ASSERT_TRUE(hoisted->setState("norm", norm).ok());
  ASSERT_TRUE(plain->setState("norm", norm).ok());
  decodeBoth("after setState of a source");
}

TEST(DerivedState, NotSettableNorCheckpointed) {
  auto hoisted = load(true);
  ASSERT_TRUE(hoisted);
  std::vector<std::string> derived = derivedNames(*hoisted);
  ASSERT_FALSE(derived.empty());
  absl::Status set =
      hoisted->setState(derived[0], HostTensor(proto::F32, {256}));
  EXPECT_FALSE(set.ok());
  EXPECT_NE(set.message().find("kiln.derive_state"), std::string::npos) << set;

  std::mt19937_64 rng(3);
  HostTensor x = randomTensor(proto::F32, {4, 256}, rng);
  auto first = hoisted->run("decode", {x});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string path = ::testing::TempDir() + "derived_state.safetensors";
  ASSERT_TRUE(saveCheckpoint(*hoisted, path).ok());
  // A fresh executor loads the parameters alone and derives the rest.
  auto fresh = load(true);
  ASSERT_TRUE(fresh);
  auto loaded = loadCheckpoint(*fresh, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto again = fresh->run("decode", {x});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(sameBits((*first)[0], (*again)[0]));
  std::remove(path.c_str());
}

TEST(DerivedState, ValidationNamesABrokenDeriveEntry) {
  codegen::CompileOptions options;
  auto exe = compileText(kModule, options);
  ASSERT_TRUE(exe.ok()) << exe.status();
  for (proto::StateEntry &s : *exe->mutable_state())
    if (isDerivedState(s))
      s.set_derive_entry("no_such_entry");
  auto executor = Executor::create(*exe);
  ASSERT_FALSE(executor.ok());
  EXPECT_NE(executor.status().message().find("unknown entry 'no_such_entry'"),
            std::string::npos)
      << executor.status();
}

} // namespace
} // namespace kiln::testing
