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

def FormFusions : Pass<"kiln-form-fusions", "::mlir::ModuleOp"> {
  let summary = "Group the ops of each kernel into kiln.dispatch regions";
  let description = [{
    Wraps every op that needs a kernel into a kiln.dispatch, together with the
    producers that kernel recomputes instead of reading from memory:
    elementwise ops whose one use is a same-size elementwise op or a
    reduction, and row reductions (trailing axes, >= 32 elements, 32-bit
    compute) whose per-row values feed an elementwise region over their input
    shape. Reshapes and constants stay outside (they need no kernel). Kernel
    targets run it after the graph passes; the host target never does.
  }];
  let dependentDialects = ["::kiln::ir::KilnDialect"];
}

#endif // KILN_PASSES_TD
