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

StringAttr
narrowableExpertWeight(ir::GroupedMatmulOp op,
                       const llvm::StringMap<DictionaryAttr> &table) {
  auto x = llvm::cast<RankedTensorType>(op.getX().getType());
  auto w = llvm::cast<RankedTensorType>(op.getW().getType());
  Type element = x.getElementType();
  if (op.getMode() != ir::GroupedMatmulMode::rows ||
      !(element.isBF16() || element.isF16() || element.isF32()) ||
      w.getRank() != 3)
    return {};
  return parameterRead(op.getW(), table);
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
    return use.getOperandNumber() == 1 && rank == 2 &&
           matmul.getTransposeB() && !matmul.getTransposeA();
  if (auto grouped = llvm::dyn_cast<ir::GroupedMatmulOp>(gemm))
    return use.getOperandNumber() == 1 && rank == 3 &&
           grouped.getMode() == ir::GroupedMatmulMode::rows &&
           grouped.getTransposeW();
  return false;
}

} // namespace kiln::passes
