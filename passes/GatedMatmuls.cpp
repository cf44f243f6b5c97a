//===- GatedMatmuls.cpp - a SiLU-gated MLP's two input projections --------===//

#include "passes/GatedMatmuls.h"

using namespace mlir;

namespace kiln::passes {

bool isGatedForm(ir::MatmulOp gate, ir::MatmulOp up, ir::SiluOp silu,
                 ir::MulOp mul) {
  Type type = mul.getType();
  Type element = llvm::cast<RankedTensorType>(type).getElementType();
  return (element.isBF16() || element.isF16()) && gate != up &&
         gate.getA() == up.getA() &&
         gate.getTransposeA() == up.getTransposeA() &&
         gate.getTransposeB() == up.getTransposeB() &&
         gate.getB().getType() == up.getB().getType() &&
         gate.getType() == type && up.getType() == type &&
         silu.getType() == type;
}

std::optional<GatedMatmuls> gatedMatmuls(ir::MulOp mul) {
  Block *block = mul->getBlock();
  // `v`'s producer of type Op, read only by one op, in the mul's block.
  auto soleProducer = [&](auto tag, Value v) {
    using Op = decltype(tag);
    auto op = v.getDefiningOp<Op>();
    return op && v.hasOneUse() && op->getBlock() == block ? op : Op();
  };
  for (int side = 0; side < 2; ++side) {
    auto silu = soleProducer(ir::SiluOp(), mul->getOperand(side));
    if (!silu)
      continue;
    auto gate = soleProducer(ir::MatmulOp(), silu.getX());
    auto up = soleProducer(ir::MatmulOp(), mul->getOperand(1 - side));
    if (gate && up && isGatedForm(gate, up, silu, mul))
      return GatedMatmuls{gate, up, silu, {gate, up, silu}};
  }
  return std::nullopt;
}

} // namespace kiln::passes
