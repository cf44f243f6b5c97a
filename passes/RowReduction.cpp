//===- RowReduction.cpp - reductions computed one row per warp ------------===//

#include "passes/RowReduction.h"

#include "ir/KilnOps.h"
#include "ir/ShapeUtils.h"

using namespace mlir;

namespace kiln::passes {

int64_t warpRowLength(Operation *reduction) {
  if (!reduction->hasTrait<ir::KilnReduction>())
    return 0;
  auto xType = llvm::cast<RankedTensorType>(reduction->getOperand(0).getType());
  Type element = xType.getElementType();
  // Narrow floats compute in f32; f64 and integers in their own width.
  unsigned computeBits = llvm::isa<FloatType>(element) && !element.isF64()
                             ? 32
                             : element.getIntOrFloatBitWidth();
  if (computeBits != 32)
    return 0;
  int64_t rank = xType.getRank();
  SmallVector<bool> reduced(rank, false);
  for (int64_t a :
       reduction->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef())
    reduced[ir::normalizeAxis(a, rank)] = true;
  // The reduced dims must be the trailing (contiguous) ones.
  int64_t count = 1;
  bool seenReduced = false;
  for (int64_t i = 0; i < rank; ++i) {
    if (seenReduced && !reduced[i])
      return 0;
    seenReduced |= reduced[i];
    if (reduced[i])
      count *= xType.getDimSize(i);
  }
  return seenReduced && count >= 32 ? count : 0;
}

} // namespace kiln::passes
