//===- OpsLinalg.cpp - matmul and the grouped (MoE) matmuls ---------------===//

#include "frontend/GraphImpl.h"
#include "frontend/Ops.h"
#include "ir/KilnOps.h"

namespace kiln {

using namespace detail;

namespace {

Attr modeAttr(ir::GroupedMatmulMode mode) {
  return {"mode", Attr::Maker([mode](mlir::MLIRContext &ctx) -> mlir::Attribute {
            return ir::GroupedMatmulModeAttr::get(&ctx, mode);
          })};
}

} // namespace

Tensor matmul(const Tensor &a, const Tensor &b, bool transposeA,
              bool transposeB, SourceLoc loc) {
  return buildOne<ir::MatmulOp>({&a, &b},
                                {boolAttr("transpose_a", transposeA),
                                 boolAttr("transpose_b", transposeB)},
                                loc);
}

Tensor groupedMatmul(const Tensor &x, const Tensor &w, const Tensor &offsets,
                     bool transposeW, SourceLoc loc) {
  return buildOne<ir::GroupedMatmulOp>(
      {&x, &w, &offsets},
      {modeAttr(ir::GroupedMatmulMode::rows), boolAttr("transpose_w", transposeW)}, loc);
}

Tensor groupedMatmulContract(const Tensor &x, const Tensor &dy,
                             const Tensor &offsets, SourceLoc loc) {
  return buildOne<ir::GroupedMatmulOp>(
      {&x, &dy, &offsets},
      {modeAttr(ir::GroupedMatmulMode::contract),
       boolAttr("transpose_w", false)}, loc);
}

} // namespace kiln
