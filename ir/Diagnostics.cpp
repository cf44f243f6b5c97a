//===- Diagnostics.cpp - MLIR diagnostics into absl::Status ----------------===//

#include "ir/Diagnostics.h"

#include "llvm/Support/raw_ostream.h"

namespace kiln {

DiagnosticCollector::DiagnosticCollector(mlir::MLIRContext &context)
    : context(context) {
  id = context.getDiagEngine().registerHandler([this](mlir::Diagnostic &diag) {
    if (diag.getSeverity() != mlir::DiagnosticSeverity::Error)
      return mlir::success();
    std::string line;
    llvm::raw_string_ostream os(line);
    os << diag.getLocation() << ": " << diag;
    for (auto &note : diag.getNotes())
      os << "\n  note: " << note.getLocation() << ": " << note;
    lines.push_back(os.str());
    return mlir::success();
  });
}

DiagnosticCollector::~DiagnosticCollector() {
  context.getDiagEngine().eraseHandler(id);
}

std::string DiagnosticCollector::message(const std::string &prefix) const {
  std::string out = prefix;
  for (const auto &line : lines)
    out += "\n" + line;
  return out;
}

} // namespace kiln
