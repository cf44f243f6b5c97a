//===- Fusion.h - which ops the ptx target fuses into their consumer -*- C++ -*-===//
//
// Elementwise producers are recomputed inside the kernel of their consumer
// (an elementwise op or a reduction) instead of round-tripping through memory,
// and reductions over rows are computed once per row inside the elementwise
// kernel that broadcasts them back: one kernel per fused region, as XLA's
// loop and input fusion and its softmax/norm row fusions do.
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
/// reduction; or when it is a warp-per-row reduction (warpRowLength) whose
/// per-row values (it, then elementwise ops of its keepdims shape, each with
/// one use) feed an elementwise region over the reduction's input shape.
llvm::DenseSet<mlir::Operation *> planFusion(mlir::func::FuncOp func);

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_FUSION_H
