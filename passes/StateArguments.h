//===- StateArguments.h - which function arguments are named state -*- C++
//-*-===//
//
// Entry functions mark their state arguments (parameters, optimizer moments,
// caches) with `kiln.state = "<name>"`, and the module lists every state in
// its `kiln.state` table with its kind. Passes that treat parameters apart
// (data and expert parallelism, precision) ask here.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_PASSES_STATEARGUMENTS_H
#define KILN_PASSES_STATEARGUMENTS_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace kiln::passes {

/// The module's kiln.state table entries by name.
llvm::StringMap<mlir::DictionaryAttr> stateTable(mlir::ModuleOp module);

/// The state a value is, when it is a state argument of a function.
mlir::StringAttr stateOf(mlir::Value v);

/// Whether `state` is of kind "parameter" in `table`.
bool isParameterState(mlir::StringAttr state,
                      const llvm::StringMap<mlir::DictionaryAttr> &table);

/// The arguments of `func` that read parameters `func` does not write (no
/// result of it names their state): what it may treat as constants between
/// two writes.
llvm::DenseSet<mlir::Value>
unwrittenParameters(mlir::func::FuncOp func,
                    const llvm::StringMap<mlir::DictionaryAttr> &table);

/// The parameter (a state of kind "parameter" in `table`) that `v` reads
/// through casts, reshapes and transposes; null when it reads none.
mlir::StringAttr
parameterRead(mlir::Value v,
              const llvm::StringMap<mlir::DictionaryAttr> &table);

} // namespace kiln::passes

#endif // KILN_PASSES_STATEARGUMENTS_H
