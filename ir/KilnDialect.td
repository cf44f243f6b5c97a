//===- KilnDialect.td - the kiln dialect ------------------------*- tablegen -*-===//
//
// The dialect every Kiln graph is written in: statically shaped tensor ops for
// DeepSeek-style MoE transformers and their training loops.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_DIALECT_TD
#define KILN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Kiln_Dialect : Dialect {
  let name = "kiln";
  let cppNamespace = "::kiln::ir";
  let summary = "Tensor ops for DeepSeek-style MoE models and their training.";
  let description = [{
    Values are statically shaped builtin tensors of f64, f32, f16, bf16, f8E4M3FN,
    f8E5M2, i64, i32, i8, i4 or i1. Every op is pure; random ops are counter based
    and take their key as an operand. docs/OPS.md gives each op's exact semantics.
  }];
  // Inherent attributes live in the attribute dictionary so that the frontend, the
  // code generator and type inference can all treat them by name.
  let usePropertiesForAttributes = 0;
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
}

#endif // KILN_DIALECT_TD
