//===- IrModuleTest.cpp - parsing, printing and verifying kiln modules ----===//

#include "ir/IrModule.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

const char *kModule = R"mlir(
func.func @main(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %y = kiln.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}
)mlir";

TEST(IrModule, ParsePrintParseIsStable) {
  auto first = IrModule::parse(kModule);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string printed = first->str();
  auto second = IrModule::parse(printed);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->str(), printed);
  EXPECT_TRUE(second->verify().ok());
}

TEST(IrModule, ParseErrorNamesBufferLineAndProblem) {
  auto bad = IrModule::parse("func.func @main() {\n  %x = kiln.nope : () -> ()\n}",
                             "model.mlir");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "model.mlir:2:"))
      << bad.status();
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "kiln.nope")) << bad.status();
}

TEST(IrModule, VerifierErrorNamesOpAndShapes) {
  auto bad = IrModule::parse(R"mlir(
func.func @main(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %y = kiln.matmul %a, %b {transpose_a = false, transpose_b = false} : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
})mlir");
  ASSERT_FALSE(bad.ok());
  std::string message(bad.status().message());
  EXPECT_TRUE(absl::StrContains(message, "kiln.matmul")) << message;
  EXPECT_TRUE(absl::StrContains(message, "tensor<2x3xf32>")) << message;
  EXPECT_TRUE(absl::StrContains(message, "tensor<4x5xf32>")) << message;
}

TEST(IrModule, LocationsArePrintedOnRequest) {
  auto module = IrModule::parse(kModule, "m.mlir");
  ASSERT_TRUE(module.ok());
  EXPECT_TRUE(absl::StrContains(module->str(/*withLocations=*/true), "m.mlir"));
  EXPECT_FALSE(absl::StrContains(module->str(), "m.mlir"));
}

} // namespace
} // namespace kiln
