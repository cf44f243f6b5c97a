//===- Precision.cpp - which GEMMs a precision policy may narrow ----------===//

#include "passes/Precision.h"

#include "ir/KilnOps.h"
#include "passes/StateArguments.h"

using namespace mlir;

namespace kiln::passes {

std::vector<std::string> keepPatternsOr(llvm::ArrayRef<std::string> keep) {
  std::vector<std::string> patterns(keep.begin(), keep.end());
  if (patterns.empty())
    for (llvm::StringLiteral p : kDefaultPrecisionKeep)
      patterns.push_back(p.str());
  return patterns;
}

bool matchesAny(llvm::StringRef weight, llvm::ArrayRef<std::string> patterns) {
  return llvm::any_of(patterns,
                      [&](const std::string &p) { return weight.contains(p); });
}

StringAttr narrowableWeight(ir::MatmulOp op,
                            const llvm::StringMap<DictionaryAttr> &table) {
  Type element = op.getA().getType().getElementType();
  if (!(element.isBF16() || element.isF16() || element.isF32()) ||
      op.getB().getType().getRank() != 2)
    return {};
  return parameterRead(op.getB(), table);
}

SmallVector<ExpertWeight>
narrowableExpertWeights(Operation *op,
                        const llvm::StringMap<DictionaryAttr> &table) {
  SmallVector<std::pair<unsigned, int64_t>> candidates;
  if (auto grouped = llvm::dyn_cast<ir::GroupedMatmulOp>(op)) {
    if (grouped.getMode() == ir::GroupedMatmulMode::rows)
      candidates.push_back({1, grouped.getTransposeW() ? 2 : 1});
  } else if (llvm::isa<ir::MoeGateUpOp>(op)) {
    candidates = {{1, 2}, {2, 2}};
  } else if (llvm::isa<ir::MoeDownOp>(op)) {
    candidates.push_back({1, 2});
  }
  SmallVector<ExpertWeight> weights;
  if (candidates.empty())
    return weights;
  Type element = llvm::cast<RankedTensorType>(op->getOperand(0).getType())
                     .getElementType();
  if (!(element.isBF16() || element.isF16() || element.isF32()))
    return weights;
  for (auto [operand, kAxis] : candidates) {
    Value w = op->getOperand(operand);
    if (llvm::cast<RankedTensorType>(w.getType()).getRank() != 3)
      continue;
    if (StringAttr name = parameterRead(w, table))
      weights.push_back({operand, kAxis, name});
  }
  return weights;
}

DictionaryAttr precisionChoice(Builder &b, llvm::StringRef policy,
                               int64_t block, StringAttr weight) {
  Type narrow = policy == "int4" ? Type(b.getIntegerType(4))
                                 : Type(b.getFloat8E4M3FNType());
  SmallVector<NamedAttribute> fields{
      b.getNamedAttr("dtype", TypeAttr::get(narrow)),
      b.getNamedAttr("block", b.getI64IntegerAttr(block)),
      b.getNamedAttr("weight", weight)};
  if (policy == "fp8-delayed") {
    fields.push_back(b.getNamedAttr("scaling", b.getStringAttr("delayed")));
    fields.push_back(
        b.getNamedAttr("history", b.getI64IntegerAttr(kDelayedScalingHistory)));
  }
  return b.getDictionaryAttr(fields);
}

bool isGemmInt4Weight(ir::DequantizeOp op) {
  auto q = llvm::cast<RankedTensorType>(op.getQ().getType());
  Type out = op.getDtype();
  if (!q.getElementType().isInteger(4) || !(out.isBF16() || out.isF16()) ||
      !q.hasStaticShape() || !op.getResult().hasOneUse())
    return false;
  ArrayRef<int64_t> block = op.getBlock();
  int64_t rank = q.getRank(), k = q.getDimSize(rank - 1);
  if (block.empty() || block.back() % 32 != 0 || k % 32 != 0 ||
      llvm::any_of(block.drop_back(), [](int64_t b) { return b != 1; }))
    return false;
  OpOperand &use = *op.getResult().getUses().begin();
  Operation *gemm = use.getOwner();
  if (auto matmul = llvm::dyn_cast<ir::MatmulOp>(gemm))
    return use.getOperandNumber() == 1 && rank == 2 && matmul.getTransposeB() &&
           !matmul.getTransposeA();
  if (auto grouped = llvm::dyn_cast<ir::GroupedMatmulOp>(gemm))
    return use.getOperandNumber() == 1 && rank == 3 &&
           grouped.getMode() == ir::GroupedMatmulMode::rows &&
           grouped.getTransposeW();
  return false;
}

} // namespace kiln::passes
