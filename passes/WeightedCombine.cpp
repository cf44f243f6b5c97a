//===- WeightedCombine.cpp - routing weights applied inside moe_combine ---===//

#include "passes/WeightedCombine.h"

using namespace mlir;

namespace kiln::passes {
namespace {

/// `v`'s defining op of type Op when `v` has no other reader.
template <typename Op> Op soleProducer(Value v) {
  return v.hasOneUse() ? v.getDefiningOp<Op>() : Op();
}

RankedTensorType typeOf(Value v) {
  return llvm::cast<RankedTensorType>(v.getType());
}

} // namespace

std::optional<WeightedCombineRows>
weightedCombineRows(ir::MoeCombineOp combine) {
  WeightedCombineRows chain;
  Value product = combine.getRows();
  auto rowsType = typeOf(product);
  if (rowsType.getRank() != 2 ||
      !llvm::isa<FloatType>(rowsType.getElementType()))
    return std::nullopt;
  if (auto cast = soleProducer<ir::CastOp>(product)) {
    chain.castProduct = true;
    chain.ops.push_back(cast);
    product = cast.getX();
  }
  auto mul = soleProducer<ir::MulOp>(product);
  if (!mul || typeOf(mul.getResult()).getShape() != rowsType.getShape())
    return std::nullopt;
  chain.ops.push_back(mul);
  chain.product = typeOf(mul.getResult()).getElementType();
  if (!llvm::isa<FloatType>(chain.product))
    return std::nullopt;
  int64_t pairs = rowsType.getDimSize(0);
  // One operand is the rows, the other their weights: [T*k, 1] gathered by
  // the combine's order from a [T*k] vector.
  for (int side = 0; side < 2; ++side) {
    Value rows = mul->getOperand(side), w = mul->getOperand(1 - side);
    auto reshape = soleProducer<ir::ReshapeOp>(w);
    if (!reshape || typeOf(w).getShape() != ArrayRef<int64_t>{pairs, 1})
      continue;
    auto gather = soleProducer<ir::GatherOp>(reshape.getX());
    if (!gather || gather.getIndices() != combine.getOrder() ||
        typeOf(gather.getX()).getRank() != 1 ||
        typeOf(gather.getX()).getElementType() != chain.product)
      continue;
    if (typeOf(rows).getShape() != rowsType.getShape())
      continue;
    if (auto cast = soleProducer<ir::CastOp>(rows)) {
      chain.castRows = true;
      chain.ops.push_back(cast);
      rows = cast.getX();
    }
    if (!llvm::isa<FloatType>(typeOf(rows).getElementType()))
      return std::nullopt;
    chain.rows = rows;
    chain.weights = gather.getX();
    chain.ops.append({reshape, gather});
    return chain;
  }
  return std::nullopt;
}

} // namespace kiln::passes
