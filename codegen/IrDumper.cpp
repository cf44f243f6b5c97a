//===- IrDumper.cpp - write the IR after every pass ------------------------===//

#include "codegen/IrDumper.h"

#include "absl/strings/str_format.h"
#include "mlir/IR/Operation.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln::codegen {

absl::Status IrDumper::begin(mlir::ModuleOp module) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot create IR dump folder '%s': %s", dir, ec.message()));
  write("input", module);
  return error;
}

void IrDumper::runAfterPass(mlir::Pass *pass, mlir::Operation *op) {
  // Dump the whole module, not only the op the pass ran on, so each file stands alone.
  while (op->getParentOp())
    op = op->getParentOp();
  write(pass->getArgument().empty() ? pass->getName().str()
                                    : pass->getArgument().str(),
        op);
}

void IrDumper::write(const std::string &stem, mlir::Operation *op) {
  std::string path = absl::StrFormat("%s/%02d-%s.mlir", dir, counter++, stem);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec) {
    if (error.ok())
      error = absl::InvalidArgumentError(
          absl::StrFormat("cannot write '%s': %s", path, ec.message()));
    return;
  }
  op->print(os);
}

} // namespace kiln::codegen
