//===- Compile.cpp - the compiler entry point ------------------------------===//

#include "codegen/Compile.h"

#include "codegen/HostCodegen.h"
#include "codegen/IrDumper.h"
#include "codegen/ptx/DirectKernel.h"
#include "codegen/ptx/PtxCodegen.h"
#include "executor/CompilerVersion.h"
#include "ir/Diagnostics.h"
#include "ir/KilnOps.h"
#include "passes/DecomposePatterns.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"

namespace kiln::codegen {

const char *const kCompilerVersion = kKilnCompilerVersion;

namespace {

/// Expands the attention ops the fused ptx kernel cannot run (rows of scores
/// past its shared memory) into primitives, then the composites that creates.
absl::Status decomposeUnfusedAttention(mlir::ModuleOp module) {
  llvm::SmallVector<mlir::Operation *> unfused;
  module.walk([&](ir::AttentionOp op) {
    if (!ptx::isDirectAttention(op))
      unfused.push_back(op);
  });
  if (unfused.empty())
    return absl::OkStatus();
  DiagnosticCollector diagnostics(*module.getContext());
  mlir::RewritePatternSet patterns(module.getContext());
  passes::populateAttentionDecomposition(patterns, [](llvm::StringRef) { return true; });
  if (mlir::failed(mlir::applyOpPatternsAndFold(unfused, std::move(patterns))))
    return absl::InternalError(diagnostics.message("decomposing attention failed"));
  // The expansion may use composites (softmax): expand those too.
  std::vector<std::string> others;
  for (llvm::StringRef name : passes::compositeOpNames())
    if (name != "attention")
      others.push_back(name.str());
  passes::DecomposeOptions only;
  only.onlyOps = others;
  mlir::PassManager pm(module.getContext());
  pm.addPass(passes::createDecompose(only));
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  if (mlir::failed(pm.run(module)))
    return absl::InternalError(diagnostics.message("decomposing attention failed"));
  return absl::OkStatus();
}

} // namespace

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
  // The ptx target runs attention as one fused kernel where its rows fit
  // (decomposeUnfusedAttention expands the rest after the pipeline).
  if (options.target == "ptx" && !options.decompose)
    pipeline.keepComposites = {"attention"};
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
    if (auto s = decomposeUnfusedAttention(module.module()); !s.ok())
      return s;
    ptx::PtxOptions ptxOptions;
    ptxOptions.dumpDir = options.dumpIrDir;
    ptxOptions.cublasMatmul = cublasMatmul;
    ptxOptions.wgmmaMatmul = options.wgmmaMatmul;
    return ptx::lowerToPtx(module.module(), ptxOptions);
  }
  return lowerToHost(module.module());
}

} // namespace kiln::codegen
