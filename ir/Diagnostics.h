//===- Diagnostics.h - MLIR diagnostics into absl::Status ------*- C++ -*-===//
//
// Compiler code reports errors as values (DESIGN.md); this collects the MLIR
// diagnostics emitted while it is alive so they can become one Status message.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_IR_DIAGNOSTICS_H
#define KILN_IR_DIAGNOSTICS_H

#include <string>
#include <vector>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

namespace kiln {

/// "file:line:col" for file locations (looking through names, call sites and
/// fusions), MLIR's own form otherwise.
std::string formatLocation(mlir::Location loc);

class DiagnosticCollector {
public:
  explicit DiagnosticCollector(mlir::MLIRContext &context);
  ~DiagnosticCollector();

  /// `prefix`, then every collected error as "location: message", one per line.
  std::string message(const std::string &prefix) const;
  bool empty() const { return lines.empty(); }

private:
  mlir::MLIRContext &context;
  mlir::DiagnosticEngine::HandlerID id;
  std::vector<std::string> lines;
};

} // namespace kiln

#endif // KILN_IR_DIAGNOSTICS_H
