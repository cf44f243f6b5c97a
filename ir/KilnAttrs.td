//===- KilnAttrs.td - kiln dialect attributes -------------------*- tablegen -*-===//
//
// Enumerated attributes of kiln ops: a closed set of spellings the verifier
// checks and C++ compares as enum values, not strings.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_ATTRS_TD
#define KILN_ATTRS_TD

include "ir/KilnDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Kiln_GroupedModeRows : I32EnumAttrCase<"rows", 0>;
def Kiln_GroupedModeContract : I32EnumAttrCase<"contract", 1>;

def Kiln_GroupedMatmulModeEnum : I32EnumAttr<"GroupedMatmulMode",
    "what a grouped_matmul computes per group",
    [Kiln_GroupedModeRows, Kiln_GroupedModeContract]> {
  let cppNamespace = "::kiln::ir";
  let genSpecializedAttr = 0;
}

// Prints as #kiln.grouped_mode<rows>.
def Kiln_GroupedMatmulModeAttr : EnumAttr<Kiln_Dialect, Kiln_GroupedMatmulModeEnum,
                                          "grouped_mode"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // KILN_ATTRS_TD
