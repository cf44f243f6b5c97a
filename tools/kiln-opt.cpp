//===- kiln-opt.cpp - MLIR opt driver with the kiln dialect ----------------===//
//
// Runs any registered pass over textual IR; lit tests drive every pass through it.
//
//===----------------------------------------------------------------------===//

#include "ir/KilnDialect.h"
#include "passes/Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<kiln::ir::KilnDialect, mlir::func::FuncDialect>();
  kiln::passes::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
