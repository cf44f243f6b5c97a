//===- PtxPasses.h - passes of the ptx target -------------------*- C++ -*-===//

#ifndef KILN_CODEGEN_PTX_PTXPASSES_H
#define KILN_CODEGEN_PTX_PTXPASSES_H

#include "ir/KilnDialect.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace kiln::codegen::ptx {

#define GEN_PASS_DECL
#include "codegen/ptx/PtxPasses.h.inc"

#define GEN_PASS_REGISTRATION
#include "codegen/ptx/PtxPasses.h.inc"

} // namespace kiln::codegen::ptx

#endif // KILN_CODEGEN_PTX_PTXPASSES_H
