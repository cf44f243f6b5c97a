//===- GatedMatmuls.cpp - a SiLU-gated MLP's two input projections --------===//

#include "passes/GatedMatmuls.h"

using namespace mlir;

namespace kiln::passes {

std::optional<GatedMatmuls> gatedMatmuls(ir::MulOp mul) {
  auto typeOf = [](Value v) {
    return llvm::cast<RankedTensorType>(v.getType());
  };
  RankedTensorType type = typeOf(mul.getResult());
  Type element = type.getElementType();
  if (!element.isBF16() && !element.isF16())
    return std::nullopt;
  Block *block = mul->getBlock();
  // `v`'s producer of type Op, read only by `user`, in the mul's block.
  auto soleProducer = [&](auto tag, Value v) {
    using Op = decltype(tag);
    auto op = v.getDefiningOp<Op>();
    return op && v.hasOneUse() && op->getBlock() == block && typeOf(v) == type
               ? op
               : Op();
  };
  for (int side = 0; side < 2; ++side) {
    auto silu = soleProducer(ir::SiluOp(), mul->getOperand(side));
    if (!silu)
      continue;
    auto gate = soleProducer(ir::MatmulOp(), silu.getX());
    auto up = soleProducer(ir::MatmulOp(), mul->getOperand(1 - side));
    if (!gate || !up || gate == up || gate.getA() != up.getA() ||
        gate.getTransposeA() != up.getTransposeA() ||
        gate.getTransposeB() != up.getTransposeB() ||
        gate.getB().getType() != up.getB().getType())
      continue;
    return GatedMatmuls{gate, up, silu, {gate, up, silu}};
  }
  return std::nullopt;
}

} // namespace kiln::passes
