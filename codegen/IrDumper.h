//===- IrDumper.h - write the IR after every pass ----------------*- C++ -*-===//
//
// A pass instrumentation that leaves one numbered file per pass in a folder, so an
// author can diff what each pass did ("00-input.mlir", "01-canonicalize.mlir", ...).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_CODEGEN_IRDUMPER_H
#define KILN_CODEGEN_IRDUMPER_H

#include <string>

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassInstrumentation.h"

namespace kiln::codegen {

class IrDumper : public mlir::PassInstrumentation {
public:
  explicit IrDumper(std::string dir) : dir(std::move(dir)) {}

  /// Creates the folder and writes the IR before any pass as 00-input.mlir.
  absl::Status begin(mlir::ModuleOp module);
  void runAfterPass(mlir::Pass *pass, mlir::Operation *op) override;
  /// The first write error, if any.
  absl::Status status() const { return error; }

private:
  void write(const std::string &stem, mlir::Operation *op);

  std::string dir;
  int counter = 0;
  absl::Status error;
};

} // namespace kiln::codegen

#endif // KILN_CODEGEN_IRDUMPER_H
