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

} // namespace kiln::passes
