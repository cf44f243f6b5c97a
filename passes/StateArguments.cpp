//===- StateArguments.cpp - which function arguments are named state ------===//

#include "passes/StateArguments.h"

#include "ir/KilnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/StringSet.h"

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
  return state && isParameterState(state, table) ? state : StringAttr();
}

bool isParameterState(StringAttr state,
                      const llvm::StringMap<DictionaryAttr> &table) {
  auto it = table.find(state.getValue());
  if (it == table.end())
    return false;
  auto kind = it->second.getAs<StringAttr>("kind");
  return kind && kind.getValue() == "parameter";
}

llvm::DenseSet<Value>
unwrittenParameters(func::FuncOp func,
                    const llvm::StringMap<DictionaryAttr> &table) {
  llvm::StringSet<> written;
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    if (auto s = func.getResultAttrOfType<StringAttr>(i, "kiln.state"))
      written.insert(s.getValue());
  llvm::DenseSet<Value> unwritten;
  for (BlockArgument arg : func.getArguments())
    if (StringAttr state = stateOf(arg); state &&
                                         isParameterState(state, table) &&
                                         !written.contains(state.getValue()))
      unwritten.insert(arg);
  return unwritten;
}

} // namespace kiln::passes
