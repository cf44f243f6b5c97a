//===- StateArguments.cpp - which function arguments are named state ------===//

#include "passes/StateArguments.h"

#include "ir/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;

namespace kiln::passes {

llvm::StringMap<DictionaryAttr> stateTable(ModuleOp module) {
  llvm::StringMap<DictionaryAttr> table;
  if (auto entries = module->getAttrOfType<ArrayAttr>("kiln.state"))
    for (Attribute a : entries)
      if (auto entry = llvm::dyn_cast<DictionaryAttr>(a))
        if (auto name = entry.getAs<StringAttr>("name"))
          table[name.getValue()] = entry;
  return table;
}

StringAttr stateOf(Value v) {
  auto arg = llvm::dyn_cast<BlockArgument>(v);
  if (!arg)
    return {};
  auto func = llvm::dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return func ? func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                  "kiln.state")
              : StringAttr();
}

StringAttr parameterRead(Value v,
                         const llvm::StringMap<DictionaryAttr> &table) {
  while (Operation *def = v.getDefiningOp()) {
    if (!llvm::isa<ir::CastOp, ir::ReshapeOp, ir::TransposeOp>(def))
      return {};
    v = def->getOperand(0);
  }
  StringAttr state = stateOf(v);
  if (!state)
    return {};
  auto it = table.find(state.getValue());
  if (it == table.end())
    return {};
  auto kind = it->second.getAs<StringAttr>("kind");
  return kind && kind.getValue() == "parameter" ? state : StringAttr();
}

} // namespace kiln::passes
