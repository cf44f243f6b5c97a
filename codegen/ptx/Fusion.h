//===- Fusion.h - which ops the ptx target fuses into their consumer -*- C++ -*-===//
//
// Elementwise producers are recomputed inside the kernel of their consumer
// (an elementwise op or a reduction) instead of round-tripping through memory:
// one kernel per fused region, as XLA's loop and input fusion do.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_PTX_FUSION_H
#define KILN_CODEGEN_PTX_FUSION_H

#include "llvm/ADT/DenseSet.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace kiln::codegen::ptx {

/// The ops of `func` that are fused into their single consumer (and so get no
/// kernel of their own). An op is fused when it is elementwise, its one result
/// has exactly one use, and that use is an elementwise op of the same number of
/// elements (no broadcast would make the fused kernel recompute it) or a
/// reduction.
llvm::DenseSet<mlir::Operation *> planFusion(mlir::func::FuncOp func);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_FUSION_H
