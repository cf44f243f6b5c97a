//===- GatedMatmuls.h - a SiLU-gated MLP's two input projections -*- C++
//-*-===//
//
// A SwiGLU MLP (DeepSeek's dense layers and shared experts) projects one input
// twice and gates one projection by the other:
//
//   act = mul(silu(matmul(x, w_gate)), matmul(x, w_up))
//
// A tensor-core kernel can multiply x's tile by both weights at once (two
// accumulator sets over the same A tiles) and apply silu and the product in
// its epilogue, rounding where the separate ops round: the two projections
// and the gated product are one launch, and neither projection is written.
// kiln-select-kernels (which moves the two GEMMs into the product's region
// where the wgmma kernels run) and the ptx kernel table share here which
// chains take that form.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_GATEDMATMULS_H
#define KILN_PASSES_GATEDMATMULS_H

#include <optional>

#include "ir/KilnOps.h"
#include "llvm/ADT/SmallVector.h"

namespace kiln::passes {

struct GatedMatmuls {
  ir::MatmulOp gate, up;
  ir::SiluOp silu;
  /// The producers the mul's region takes: gate, up and silu.
  llvm::SmallVector<mlir::Operation *> ops;
};

/// Whether mul(silu(gate), up) has the form's values: two distinct matmuls
/// of the same A with the same transposes and B types, and the projections,
/// silu and mul of one bf16 or f16 type (each op rounds to it).
bool isGatedForm(ir::MatmulOp gate, ir::MatmulOp up, ir::SiluOp silu,
                 ir::MulOp mul);

/// The chain above ending in `mul` (in either operand order) when
/// isGatedForm holds and every value of the chain is read only inside it,
/// in the mul's block. Nothing otherwise.
std::optional<GatedMatmuls> gatedMatmuls(ir::MulOp mul);

} // namespace kiln::passes

#endif // KILN_PASSES_GATEDMATMULS_H
