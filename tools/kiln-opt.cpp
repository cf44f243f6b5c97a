//===- kiln-opt.cpp - MLIR opt driver with the kiln dialect ----------------===//
//
// Runs any registered pass (the graph passes and the ptx target's) over textual
// IR; lit tests drive every pass through it.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnDialect.h"
#include "passes/Pipeline.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<kiln::ir::KilnDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::gpu::GPUDialect>();
  kiln::passes::registerAllPasses();
  kiln::codegen::ptx::registerKilnPtxPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
