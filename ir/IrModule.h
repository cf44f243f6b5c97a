//===- IrModule.h - an owned kiln module behind a firewall ------*- C++ -*-===//
//
// The value the frontend hands to the compiler: an MLIR module of kiln entry
// functions, with no MLIR type in this header so model code compiles fast.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_IRMODULE_H
#define KILN_IR_IRMODULE_H

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace mlir {
class MLIRContext;
class ModuleOp;
} // namespace mlir

namespace kiln {

/// Owns an MLIRContext (with the kiln dialect loaded) and one module in it.
class IrModule {
public:
  IrModule();
  IrModule(IrModule &&) noexcept;
  IrModule &operator=(IrModule &&) noexcept;
  ~IrModule();

  /// Parses textual IR; errors carry the parser's diagnostics with line numbers.
  static absl::StatusOr<IrModule> parse(const std::string &text,
                                        const std::string &bufferName = "<input>");

  /// The module as textual IR (with source locations when `withLocations`).
  std::string str(bool withLocations = false) const;

  /// Runs the MLIR verifier; the error lists every diagnostic.
  absl::Status verify() const;

  // For compiler code only (ir/, passes/, codegen/): the underlying objects.
  mlir::MLIRContext &context() const;
  mlir::ModuleOp module() const;
  void setModule(mlir::ModuleOp module);

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// Registers the kiln dialect and what its IR uses (func) into a fresh context.
std::unique_ptr<mlir::MLIRContext> createKilnContext();

} // namespace kiln

#endif // KILN_IR_IRMODULE_H
