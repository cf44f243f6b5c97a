//===- QuantOps.cpp - type inference of the quantization ops --------------===//
//
// quantize, dequantize and scaled_matmul (ir/KilnOps.td "Quantization"): the
// block attributes, scale shapes and element types each one accepts.
//
//===----------------------------------------------------------------------===//

#include "ir/Infer.h"
#include "ir/Quantization.h"

using namespace mlir;

namespace kiln::ir {
using namespace infer;
namespace {

/// Checks that `block` has one positive size per dimension of `type`.
LogicalResult checkBlock(Infer &in, StringRef name, ArrayRef<int64_t> block,
                         RankedTensorType type) {
  if (block.size() != static_cast<size_t>(type.getRank()) ||
      llvm::any_of(block, [](int64_t b) { return b < 1; }))
    return in.fail(name, " ", str(block), " must have one size >= 1 per ",
                   "dimension of ", str(type));
  return success();
}

/// Checks a quantized operand and its scale: `q` of a quantized type,
/// `scale` f32 of blockScaleShape(q, block).
LogicalResult checkScaled(Infer &in, StringRef role, RankedTensorType q,
                          RankedTensorType scale, StringRef blockName,
                          ArrayRef<int64_t> block, bool floatOnly) {
  if (failed(checkBlock(in, blockName, block, q)))
    return failure();
  bool isFloat8 = isFloat(q.getElementType()) &&
                  quantizedMax(q.getElementType()).has_value();
  if (floatOnly ? !isFloat8 : !quantizedMax(q.getElementType()))
    return in.fail(role, " must be ",
                   floatOnly ? "f8E4M3FN or f8E5M2"
                             : "f8E4M3FN, f8E5M2, i8 or i4",
                   ", got ", str(q));
  SmallVector<int64_t> expected = blockScaleShape(q.getShape(), block);
  if (!scale.getElementType().isF32() || scale.getShape() != ArrayRef(expected))
    return in.fail(role, "'s scale must be f32 ", str(expected), " (", role,
                   " ", str(q), " in blocks of ", str(block), "), got ",
                   str(scale));
  return success();
}

/// The `dtype` attribute as one of the types a dequantized value takes.
FailureOr<Type> dequantizedType(Infer &in) {
  auto dtype = in.attr<TypeAttr>("dtype");
  if (!dtype)
    return failure();
  if (!isDequantizedType(dtype.getValue()))
    return in.fail("dtype must be f32, bf16 or f16, got ",
                   str(dtype.getValue()));
  return dtype.getValue();
}

} // namespace

KILN_INFER(QuantizeOp, {
  auto x = in.tensor(0, "x");
  auto block = in.attr<DenseI64ArrayAttr>("block");
  auto dtype = in.attr<TypeAttr>("dtype");
  if (!x || !block || !dtype)
    return failure();
  if (!isDequantizedType(x.getElementType()))
    return in.fail("x must be f32, bf16 or f16, got ", str(x));
  if (!quantizedMax(dtype.getValue()))
    return in.fail("dtype must be f8E4M3FN, f8E5M2, i8 or i4, got ",
                   str(dtype.getValue()));
  if (failed(checkBlock(in, "block", block.asArrayRef(), x)))
    return failure();
  out.push_back(in.make(x.getShape(), dtype.getValue()));
  out.push_back(in.make(blockScaleShape(x.getShape(), block.asArrayRef()),
                        Float32Type::get(ctx)));
  return success();
})

KILN_INFER(DequantizeOp, {
  auto q = in.tensor(0, "q"), scale = in.tensor(1, "scale");
  auto block = in.attr<DenseI64ArrayAttr>("block");
  if (!q || !scale || !block)
    return failure();
  auto dtype = dequantizedType(in);
  if (failed(dtype) || failed(checkScaled(in, "q", q, scale, "block",
                                          block.asArrayRef(), false)))
    return failure();
  out.push_back(in.make(q.getShape(), *dtype));
  return success();
})

KILN_INFER(ScaledMatmulOp, {
  auto a = in.tensor(0, "a"), aScale = in.tensor(1, "a_scale");
  auto b = in.tensor(2, "b"), bScale = in.tensor(3, "b_scale");
  auto aBlock = in.attr<DenseI64ArrayAttr>("a_block");
  auto bBlock = in.attr<DenseI64ArrayAttr>("b_block");
  auto ta = in.attr<BoolAttr>("transpose_a");
  auto tb = in.attr<BoolAttr>("transpose_b");
  if (!a || !aScale || !b || !bScale || !aBlock || !bBlock || !ta || !tb)
    return failure();
  auto dtype = dequantizedType(in);
  if (failed(dtype))
    return failure();
  if (a.getRank() != 2 || b.getRank() != 2)
    return in.fail("a and b must be matrices, got ", str(a), " and ", str(b));
  if (failed(checkScaled(in, "a", a, aScale, "a_block", aBlock.asArrayRef(),
                         true)) ||
      failed(checkScaled(in, "b", b, bScale, "b_block", bBlock.asArrayRef(),
                         true)))
    return failure();
  // Stored dims: a [M, K] or [K, M]; b [K, N] or [N, K].
  int64_t aK = ta.getValue() ? 0 : 1, bK = tb.getValue() ? 1 : 0;
  if (a.getDimSize(aK) != b.getDimSize(bK))
    return in.fail("contraction sizes differ: a ", str(a),
                   ta.getValue() ? " (transposed)" : "",
                   " has K = ", a.getDimSize(aK), ", b ", str(b),
                   tb.getValue() ? " (transposed)" : "",
                   " has K = ", b.getDimSize(bK));
  int64_t k = a.getDimSize(aK);
  int64_t aKBlock = blockExtent(aBlock[aK], k);
  int64_t bKBlock = blockExtent(bBlock[bK], k);
  if (aKBlock != bKBlock)
    return in.fail("a_block ", str(aBlock.asArrayRef()), " and b_block ",
                   str(bBlock.asArrayRef()),
                   " must share their K size (the promotion interval), got ",
                   aKBlock, " and ", bKBlock);
  out.push_back(in.make({a.getDimSize(1 - aK), b.getDimSize(1 - bK)}, *dtype));
  return success();
})

} // namespace kiln::ir
