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
    Expands rms_norm, softmax, log_softmax, rotary, attention, cross_entropy,
    token_logprobs and the fused MoE ops (moe_plan, moe_gate_up, moe_down,
    moe_combine) into elementwise, reduction, matmul and shape primitives with the
    same semantics (f32 compute for narrow float types; the MoE combine stays a
    fixed-order reduction). Targets that have no fused
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

def FuseMoe : Pass<"kiln-fuse-moe", "::mlir::ModuleOp"> {
  let summary = "Rewrite the dropless MoE dispatch into fused MoE ops";
  let description = [{
    Finds the MoE layer that model code writes with ordinary ops (argsort,
    bincount and cumsum of the chosen experts, a gather of the tokens, gate and
    up grouped products with SwiGLU, a down product scaled by the routing
    weights, and scatter_add into zeros) and replaces it with kiln.moe_plan,
    kiln.moe_gate_up and kiln.moe_down: no gathered copy of the tokens, and a
    combine that sums each token's rows in a fixed order. Runs before kiln-grad
    so the backward comes from the fused ops' gradient rules. A layer that
    differs in any piece (another divisor than k, offsets from another plan, an
    intermediate used elsewhere) is left alone.
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
