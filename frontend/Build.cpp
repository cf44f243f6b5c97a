//===- Build.cpp - seal the entry functions and hand the module out -------===//
//
// Writes the contract with the code generator: func signatures with kiln.name /
// kiln.state argument and result attributes, and the module's kiln.state table.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"

#include "absl/strings/str_cat.h"
#include "mlir/IR/SymbolTable.h"

namespace kiln::detail {

absl::StatusOr<IrModule> GraphImpl::finish() {
  if (failed())
    return error;
  if (!module)
    return absl::FailedPreconditionError(
        absl::StrCat("graph '", graphName,
                     "' was already built; build() hands its module out once"));
  mlir::Builder b(ctx);

  for (auto &info : functions) {
    int function = &info - &functions.front();
    // A donated result needs its state argument to alias even if never read.
    for (const ResultInfo &result : info->results)
      if (result.isState && !info->stateArgs.count(stateByName[result.name]))
        read(function, State(this, stateByName[result.name]), result.loc);
    mlir::Block &body = info->func.getBody().front();
    llvm::SmallVector<mlir::Value> results;
    for (const ResultInfo &result : info->results)
      results.push_back(values[result.value].value);
    auto builder = mlir::OpBuilder::atBlockEnd(&body);
    auto ret =
        builder.create<mlir::func::ReturnOp>(info->func.getLoc(), results);
    info->func.setFunctionType(mlir::FunctionType::get(
        ctx, body.getArgumentTypes(), ret.getOperandTypes()));
    for (auto [i, arg] : llvm::enumerate(info->args))
      info->func.setArgAttr(i, arg.isState ? "kiln.state" : "kiln.name",
                            b.getStringAttr(arg.name));
    for (auto [i, result] : llvm::enumerate(info->results))
      info->func.setResultAttr(i, result.isState ? "kiln.state" : "kiln.name",
                               b.getStringAttr(result.name));
  }

  llvm::SmallVector<mlir::Attribute> table;
  for (const StateInfo &s : states) {
    mlir::NamedAttrList entry;
    entry.append("name", b.getStringAttr(s.name));
    entry.append("type", mlir::TypeAttr::get(mlir::RankedTensorType::get(
                             s.shape, detail::toMlir(*ctx, s.dtype))));
    entry.append("kind", b.getStringAttr(stateKindName(s.kind)));
    entry.append("init", b.getStringAttr(initKindName(s.init.kind)));
    entry.append("a", b.getF64FloatAttr(s.init.a));
    entry.append("b", b.getF64FloatAttr(s.init.b));
    entry.append("seed", b.getI64IntegerAttr(s.init.seed));
    if (!s.sharding.empty())
      entry.append("sharding", b.getStringAttr(s.sharding));
    table.push_back(entry.getDictionary(ctx));
  }
  mlir::ModuleOp op = module->module();
  op->setAttr("kiln.state", b.getArrayAttr(table));
  op->setAttr(mlir::SymbolTable::getSymbolAttrName(),
              b.getStringAttr(graphName));

  if (absl::Status verified = module->verify(); !verified.ok()) {
    error = verified;
    return error;
  }
  IrModule out = std::move(*module);
  module.reset();
  return out;
}

} // namespace kiln::detail
