//===- Passes.td - kiln graph passes ----------------------------*- tablegen -*-===//
//
// Graph-to-graph transformations over the kiln dialect.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_TD
#define KILN_PASSES_TD

include "mlir/Pass/PassBase.td"

def Decompose : Pass<"kiln-decompose", "::mlir::ModuleOp"> {
  let summary = "Rewrite composite ops into kiln primitives";
  let description = [{
    Expands rms_norm, softmax, log_softmax, rotary, attention, cross_entropy and
    token_logprobs into elementwise, reduction, matmul and shape primitives with the
    same semantics (f32 compute for narrow float types). Targets that have no fused
    kernel for a composite run this; others keep the fused op.
  }];
  let options = [
    ListOption<"onlyOps", "ops", "std::string",
               "Decompose only these composite ops (names without 'kiln.')">
  ];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

def Grad : Pass<"kiln-grad", "::mlir::ModuleOp"> {
  let summary = "Expand kiln.grad by reverse-mode differentiation";
  let description = [{
    Replaces every kiln.grad with the ops computing its gradients, built from each
    op's VjpOpInterface rule, summing the contributions of every use. Ops carrying
    an integer `kiln.remat` attribute are recomputed in the backward pass (one
    clone per group) instead of keeping their forward results alive.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

#endif // KILN_PASSES_TD
