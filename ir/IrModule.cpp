//===- IrModule.cpp - an owned kiln module ---------------------------------===//

#include "ir/IrModule.h"

#include "ir/Diagnostics.h"
#include "ir/KilnDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "absl/status/status.h"

namespace kiln {

struct IrModule::Impl {
  std::unique_ptr<mlir::MLIRContext> context = createKilnContext();
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

std::unique_ptr<mlir::MLIRContext> createKilnContext() {
  mlir::DialectRegistry registry;
  registry.insert<ir::KilnDialect, mlir::func::FuncDialect>();
  auto context = std::make_unique<mlir::MLIRContext>(registry);
  context->loadAllAvailableDialects();
  // Compile calls are single-threaded per graph; a private thread pool per context
  // would only add start-up cost.
  context->disableMultithreading();
  return context;
}

IrModule::IrModule() : impl(std::make_unique<Impl>()) {
  mlir::OpBuilder builder(impl->context.get());
  impl->module = mlir::ModuleOp::create(builder.getUnknownLoc());
}
IrModule::IrModule(IrModule &&) noexcept = default;
IrModule &IrModule::operator=(IrModule &&) noexcept = default;
IrModule::~IrModule() = default;

absl::StatusOr<IrModule> IrModule::parse(const std::string &text,
                                         const std::string &bufferName) {
  IrModule result;
  DiagnosticCollector diagnostics(result.context());
  mlir::ParserConfig config(&result.context());
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, config, bufferName);
  if (!module)
    return absl::InvalidArgumentError(diagnostics.message("cannot parse " + bufferName));
  result.impl->module = std::move(module);
  return result;
}

std::string IrModule::str(bool withLocations) const {
  std::string out;
  llvm::raw_string_ostream os(out);
  mlir::OpPrintingFlags flags;
  if (withLocations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
  impl->module->print(os, flags);
  return out;
}

absl::Status IrModule::verify() const {
  DiagnosticCollector diagnostics(context());
  if (mlir::failed(mlir::verify(*impl->module)))
    return absl::InvalidArgumentError(diagnostics.message("invalid module"));
  return absl::OkStatus();
}

mlir::MLIRContext &IrModule::context() const { return *impl->context; }
mlir::ModuleOp IrModule::module() const { return *impl->module; }
void IrModule::setModule(mlir::ModuleOp module) { impl->module = module; }

} // namespace kiln
