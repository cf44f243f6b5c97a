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

// Each result element is a function of the operand elements at its own index
// (after broadcasting): unary and binary math, compares, select, cast,
// broadcast_to. Such ops fuse into their consumers (kiln-form-fusions).
def Kiln_ElementwiseOp : NativeOpTrait<"KilnElementwise"> {
  let cppNamespace = "::kiln::ir";
}

// Each result element is one operand element at an index computed from its
// own (transpose, slice, concat): no arithmetic. A kernel reads through such
// ops instead of launching them (kiln-form-fusions).
def Kiln_IndexRemapOp : NativeOpTrait<"KilnIndexRemap"> {
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

// An op with no gradient: integer or boolean results, piecewise-constant
// functions, random sources. kiln-grad passes no cotangent through it.
def Kiln_NoGradient : NativeOpTrait<"KilnNoGradient"> {
  let cppNamespace = "::kiln::ir";
}

def Kiln_VjpOpInterface : OpInterface<"VjpOpInterface"> {
  let cppNamespace = "::kiln::ir";
  let description = [{
    The op's vector-Jacobian product, used by kiln-grad (reverse-mode autodiff).
    Every differentiable kiln op implements it where it is defined, so a new op
    brings its gradient with it; tests/autodiff walks the dialect and fails for an
    op that has neither this interface nor the NoGradient trait.
  }];
  let methods = [
    InterfaceMethod<[{
        Emits, at the builder's insertion point, the gradient of each operand given
        the gradients of the results. `resultGrads` has one entry per result (null
        where that result has no cotangent); the op must push one value per
        operand into `operandGrads`, null for operands without a gradient (integer
        operands, or no dependence). Gradients have the operand's exact type.
      }],
      "::llvm::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // KILN_INTERFACES_TD
