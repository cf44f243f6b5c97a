//===- KilnInterfaces.td - marker traits and interfaces ----------*- tablegen -*-===//
//
// Traits that group kiln ops for passes and codegen (broadcasting, reductions,
// composites with a decomposition).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_INTERFACES_TD
#define KILN_INTERFACES_TD

include "mlir/IR/OpBase.td"

// Operands broadcast numpy-style to the result shape.
def Kiln_BroadcastingOp : NativeOpTrait<"KilnBroadcasting"> {
  let cppNamespace = "::kiln::ir";
}

// Reduces its `axes` attribute, honouring `keepdims`.
def Kiln_ReductionOp : NativeOpTrait<"KilnReduction"> {
  let cppNamespace = "::kiln::ir";
}

// A composite op: `kiln-decompose` rewrites it into primitives.
def Kiln_CompositeOpInterface : NativeOpTrait<"KilnComposite"> {
  let cppNamespace = "::kiln::ir";
}

#endif // KILN_INTERFACES_TD
