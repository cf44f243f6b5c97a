//===- DecodeAttention.cpp - the one-query, one-kv-head attention form ----===//

#include "passes/DecodeAttention.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

using namespace mlir;

namespace kiln::passes {
namespace {

/// Shared memory a block's scores may take, and query registers a lane may
/// hold (heads x ceil(dk / 32) f32 values).
constexpr int64_t kMaxScoreBytes = 96 * 1024;
constexpr int64_t kMaxQueryRegisters = 96;
constexpr int64_t kMaxHeadsPerBlock = 8;

bool isPlainFloat(Type t) { return t.isBF16() || t.isF16() || t.isF32(); }

} // namespace

int64_t decodeAttentionHeadsPerBlock(int64_t heads, int64_t keys, int64_t dk) {
  int64_t lanesDims = (dk + 31) / 32;
  for (int64_t g = kMaxHeadsPerBlock; g >= 1; g /= 2)
    if (heads % g == 0 && keys * g * 4 <= kMaxScoreBytes &&
        g * lanesDims <= kMaxQueryRegisters)
      return g;
  return 0;
}

bool isDecodeAttention(ir::AttentionOp op) {
  auto q = llvm::cast<RankedTensorType>(op.getQ().getType());
  auto k = llvm::cast<RankedTensorType>(op.getK().getType());
  auto v = llvm::cast<RankedTensorType>(op.getV().getType());
  auto out = llvm::cast<RankedTensorType>(op.getResult().getType());
  if (!q.hasStaticShape() || !k.hasStaticShape() || !v.hasStaticShape() ||
      q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return false;
  Type element = q.getElementType();
  if (!isPlainFloat(element) || k.getElementType() != element ||
      v.getElementType() != element || out.getElementType() != element)
    return false;
  int64_t batch = q.getDimSize(0), heads = q.getDimSize(1);
  int64_t keys = k.getDimSize(2), dk = q.getDimSize(3);
  return q.getDimSize(2) == 1 && k.getDimSize(1) == 1 && v.getDimSize(1) == 1 &&
         batch > 0 && heads > 0 && keys > 0 && dk > 0 && v.getDimSize(3) > 0 &&
         decodeAttentionHeadsPerBlock(heads, keys, dk) > 0;
}

ir::ConcatOp fusedKeyConcat(ir::AttentionOp op) {
  if (!isDecodeAttention(op))
    return {};
  auto reshape = op.getK().getDefiningOp<ir::ReshapeOp>();
  if (!reshape || !reshape->hasOneUse() ||
      reshape->getBlock() != op->getBlock())
    return {};
  auto concat = reshape.getX().getDefiningOp<ir::ConcatOp>();
  if (!concat || !concat->hasOneUse() || concat->getBlock() != op->getBlock())
    return {};
  // [B, keys, parts...] joined on the last axis reshapes to [B, 1, keys, dk]
  // row for row only when it is rank 3 with the key's batch and keys.
  auto joined = llvm::cast<RankedTensorType>(concat.getType());
  auto key = llvm::cast<RankedTensorType>(op.getK().getType());
  if (joined.getRank() != 3 || ir::normalizeAxis(concat.getAxis(), 3) != 2 ||
      joined.getDimSize(0) != key.getDimSize(0) ||
      joined.getDimSize(1) != key.getDimSize(2))
    return {};
  return concat;
}

} // namespace kiln::passes
