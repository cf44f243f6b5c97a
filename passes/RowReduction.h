//===- RowReduction.h - reductions computed one row per warp ----*- C++ -*-===//
//
// The rule shared by kiln-form-fusions (which reductions may join the
// elementwise region that consumes them) and the ptx loop-nest kernels (which
// run them a warp or block per row).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_ROWREDUCTION_H
#define KILN_PASSES_ROWREDUCTION_H

#include <cstdint>

#include "mlir/IR/Operation.h"

namespace kiln::passes {

/// For a reduction that runs one warp (or block) per output — its reduced dims
/// are the trailing ones, at least 32 elements, computed in a 32-bit type
/// (f32 for narrow floats, as every float op computes) — the number of
/// elements each output reduces. 0 otherwise.
int64_t warpRowLength(mlir::Operation *reduction);

} // namespace kiln::passes

#endif // KILN_PASSES_ROWREDUCTION_H
