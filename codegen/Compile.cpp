//===- Compile.cpp - the compiler entry point ------------------------------===//

#include "codegen/Compile.h"

#include "codegen/HostCodegen.h"
#include "codegen/IrDumper.h"
#include "codegen/ptx/PtxCodegen.h"
#include "executor/CompilerVersion.h"
#include "ir/Diagnostics.h"
#include "passes/Pipeline.h"

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

namespace kiln::codegen {

const char *const kCompilerVersion = kKilnCompilerVersion;

absl::StatusOr<proto::Executable> compile(IrModule &module,
                                          const CompileOptions &options) {
  if (options.target != "host" && options.target != "ptx")
    return absl::InvalidArgumentError("unknown target '" + options.target +
                                      "' (this build supports: host, ptx)");
  bool cublasMatmul = false;
  for (const std::string &provider : options.providers) {
    if (provider != "matmul=cublas")
      return absl::InvalidArgumentError("unknown provider '" + provider +
                                        "' (expected OP=PROVIDER; this build has: matmul=cublas)");
    if (options.target != "ptx")
      return absl::InvalidArgumentError("provider '" + provider +
                                        "' applies to the ptx target only, not '" +
                                        options.target + "'");
    cublasMatmul = true;
  }
  // The ptx target has kernels for primitives only: composites are expanded.
  bool decompose = options.decompose || options.target == "ptx";
  if (auto s = module.verify(); !s.ok())
    return s;
  DiagnosticCollector diagnostics(module.context());
  mlir::PassManager pm(&module.context());
  passes::PipelineOptions pipeline;
  pipeline.decompose = decompose;
  passes::buildHostPipeline(pm, pipeline);
  IrDumper *dumper = nullptr;
  if (!options.dumpIrDir.empty()) {
    auto owned = std::make_unique<IrDumper>(options.dumpIrDir);
    dumper = owned.get();
    if (auto s = dumper->begin(module.module()); !s.ok())
      return s;
    pm.addInstrumentation(std::move(owned));
  }
  if (mlir::failed(pm.run(module.module())))
    return absl::InvalidArgumentError(diagnostics.message("the pass pipeline failed"));
  if (dumper && !dumper->status().ok())
    return dumper->status();
  if (options.target == "ptx") {
    ptx::PtxOptions ptxOptions;
    ptxOptions.dumpDir = options.dumpIrDir;
    ptxOptions.cublasMatmul = cublasMatmul;
    return ptx::lowerToPtx(module.module(), ptxOptions);
  }
  return lowerToHost(module.module());
}

} // namespace kiln::codegen
