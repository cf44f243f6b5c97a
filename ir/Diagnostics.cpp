//===- Diagnostics.cpp - MLIR diagnostics into absl::Status ----------------===//

#include "ir/Diagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/raw_ostream.h"

namespace kiln {

std::string formatLocation(mlir::Location loc) {
  if (auto file = llvm::dyn_cast<mlir::FileLineColLoc>(loc))
    return file.getFilename().str() + ":" + std::to_string(file.getLine()) + ":" +
           std::to_string(file.getColumn());
  if (auto name = llvm::dyn_cast<mlir::NameLoc>(loc))
    return formatLocation(name.getChildLoc());
  if (auto callSite = llvm::dyn_cast<mlir::CallSiteLoc>(loc))
    return formatLocation(callSite.getCallee());
  if (auto fused = llvm::dyn_cast<mlir::FusedLoc>(loc);
      fused && !fused.getLocations().empty())
    return formatLocation(fused.getLocations().front());
  std::string out;
  llvm::raw_string_ostream os(out);
  os << loc;
  return out;
}

DiagnosticCollector::DiagnosticCollector(mlir::MLIRContext &context)
    : context(context) {
  id = context.getDiagEngine().registerHandler([this](mlir::Diagnostic &diag) {
    if (diag.getSeverity() != mlir::DiagnosticSeverity::Error)
      return mlir::success();
    std::string line;
    llvm::raw_string_ostream os(line);
    os << formatLocation(diag.getLocation()) << ": " << diag;
    for (auto &note : diag.getNotes())
      os << "\n  note: " << formatLocation(note.getLocation()) << ": " << note;
    lines.push_back(os.str());
    return mlir::success();
  });
}

DiagnosticCollector::~DiagnosticCollector() {
  context.getDiagEngine().eraseHandler(id);
}

std::string DiagnosticCollector::message(const std::string &prefix) const {
  // One diagnostic stays on one line, so tools can print one-line errors.
  if (lines.size() == 1)
    return prefix + ": " + lines.front();
  std::string out = prefix;
  for (const auto &line : lines)
    out += "\n" + line;
  return out;
}

} // namespace kiln
