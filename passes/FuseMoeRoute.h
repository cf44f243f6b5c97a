//===- FuseMoeRoute.h - kiln-fuse-moe's routing half -------------*- C++
//-*-===//
//
// The routing that model code writes (group-limited top-k of scores + bias,
// the chosen scores gathered, normalised and scaled) into kiln.moe_route.
// kiln-fuse-moe runs it before fusing the dispatch.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_FUSEMOEROUTE_H
#define KILN_PASSES_FUSEMOEROUTE_H

#include "mlir/IR/Operation.h"

namespace kiln::passes {

/// Rewrites every routing under `root` that matches exactly; leaves the
/// others alone. Returns how many were fused.
int fuseMoeRoutes(mlir::Operation *root);

} // namespace kiln::passes

#endif // KILN_PASSES_FUSEMOEROUTE_H
