//===- kiln-opt.cpp - MLIR opt driver with the kiln dialect ----------------===//
//
// Runs any registered pass (the graph passes and the ptx target's) over textual
// IR; lit tests drive every pass through it.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxPasses.h"
#include "ir/KilnDialect.h"
#include "passes/Pipeline.h"
#include "tools/MlirInputGuard.h"

#include <fstream>
#include <sstream>
#include <string>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

/// Checks each input file named on the command line (arguments that are not
/// options and not the value of -o) before MLIR reads it.
static bool inputsAreSafe(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.empty() || arg[0] == '-' || std::string(argv[i - 1]) == "-o")
      continue;
    std::ifstream in(arg, std::ios::binary);
    if (!in)
      continue; // MLIR reports files it cannot open
    std::stringstream text;
    text << in.rdbuf();
    if (std::string refused = kiln::tools::checkMlirInput(text.str(), arg);
        !refused.empty()) {
      llvm::errs() << "kiln-opt: error: " << refused << "\n";
      return false;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  if (!inputsAreSafe(argc, argv))
    return 1;
  mlir::DialectRegistry registry;
  registry.insert<kiln::ir::KilnDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::gpu::GPUDialect>();
  kiln::passes::registerAllPasses();
  kiln::codegen::ptx::registerKilnPtxPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
