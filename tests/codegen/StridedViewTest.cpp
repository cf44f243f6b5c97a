//===- StridedViewTest.cpp - remap chains as strided views ----------------===//
//
// passes::stridedViewOf: the strides a chain of reshapes, transposes and
// slices reads its base at, and the chains that would move an element.

#include "passes/StridedView.h"

#include "ir/IrModule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

/// The view of the value `main` returns (its only use is the return).
std::optional<passes::StridedView> viewReturnedBy(const std::string &text) {
  auto module = IrModule::parse(text);
  EXPECT_TRUE(module.ok()) << module.status();
  if (!module.ok())
    return std::nullopt;
  std::optional<passes::StridedView> view;
  module->module().walk([&](mlir::func::ReturnOp ret) {
    view = passes::stridedViewOf(ret.getOperand(0));
  });
  return view;
}

TEST(StridedView, TheAbsorbedMlaQueryIsHeadsFirst) {
  // [64, 1, 1536] as 16 heads of 96, the first 64 of each, heads first.
  auto view = viewReturnedBy(R"mlir(
func.func @main(%q: tensor<64x1x1536xbf16>) -> tensor<16x64x64xbf16> {
  %0 = kiln.reshape %q {shape = array<i64: 64, 1, 16, 96>} : (tensor<64x1x1536xbf16>) -> tensor<64x1x16x96xbf16>
  %1 = kiln.transpose %0 {perm = array<i64: 0, 2, 1, 3>} : (tensor<64x1x16x96xbf16>) -> tensor<64x16x1x96xbf16>
  %2 = kiln.slice %1 {limit = array<i64: 64, 16, 1, 64>, start = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1, 1, 1>} : (tensor<64x16x1x96xbf16>) -> tensor<64x16x1x64xbf16>
  %3 = kiln.reshape %2 {shape = array<i64: 64, 16, 64>} : (tensor<64x16x1x64xbf16>) -> tensor<64x16x64xbf16>
  %4 = kiln.transpose %3 {perm = array<i64: 1, 0, 2>} : (tensor<64x16x64xbf16>) -> tensor<16x64x64xbf16>
  return %4 : tensor<16x64x64xbf16>
})mlir");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->shape, (llvm::SmallVector<int64_t>{16, 64, 64}));
  EXPECT_EQ(view->strides, (llvm::SmallVector<int64_t>{96, 1536, 1}));
  EXPECT_EQ(view->offset, 0);
  EXPECT_EQ(view->ops.size(), 5u);
}

TEST(StridedView, SlicesOffsetAndStepTheView) {
  auto view = viewReturnedBy(R"mlir(
func.func @main(%x: tensor<8x10xf32>) -> tensor<3x4xf32> {
  %0 = kiln.slice %x {limit = array<i64: 8, 9>, start = array<i64: 2, 1>, stride = array<i64: 2, 2>} : (tensor<8x10xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
})mlir");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->shape, (llvm::SmallVector<int64_t>{3, 4}));
  EXPECT_EQ(view->strides, (llvm::SmallVector<int64_t>{20, 2}));
  EXPECT_EQ(view->offset, 21);
}

TEST(StridedView, AReshapeThatWouldMoveElementsIsNoView) {
  // The transposed rows are no longer contiguous: merging them copies.
  EXPECT_FALSE(viewReturnedBy(R"mlir(
func.func @main(%x: tensor<4x6xf32>) -> tensor<24xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x6xf32>) -> tensor<6x4xf32>
  %1 = kiln.reshape %0 {shape = array<i64: 24>} : (tensor<6x4xf32>) -> tensor<24xf32>
  return %1 : tensor<24xf32>
})mlir"));
  // Splitting a transposed dim keeps a view.
  auto split = viewReturnedBy(R"mlir(
func.func @main(%x: tensor<4x6xf32>) -> tensor<2x3x4xf32> {
  %0 = kiln.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x6xf32>) -> tensor<6x4xf32>
  %1 = kiln.reshape %0 {shape = array<i64: 2, 3, 4>} : (tensor<6x4xf32>) -> tensor<2x3x4xf32>
  return %1 : tensor<2x3x4xf32>
})mlir");
  ASSERT_TRUE(split);
  EXPECT_EQ(split->strides, (llvm::SmallVector<int64_t>{3, 1, 6}));
}

TEST(StridedView, AValueNoRemapWroteIsNoView) {
  EXPECT_FALSE(viewReturnedBy(R"mlir(
func.func @main(%x: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %0 = kiln.exp %x : (tensor<4x6xf32>) -> tensor<4x6xf32>
  return %0 : tensor<4x6xf32>
})mlir"));
}

} // namespace
} // namespace kiln
