//===- Passes.h - kiln graph passes -----------------------------*- C++ -*-===//
//
// Declares every kiln pass and the registration used by kiln-opt and kiln-compile.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_PASSES_H
#define KILN_PASSES_PASSES_H

#include "ir/KilnDialect.h"
#include "mlir/Pass/Pass.h"

#include <memory>

namespace kiln::passes {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace kiln::passes

#endif // KILN_PASSES_PASSES_H
