//===- Compile.cpp - the compiler entry point
//------------------------------===//

#include "codegen/Compile.h"

#include "codegen/HostCodegen.h"
#include "codegen/IrDumper.h"
#include "codegen/ptx/PtxCodegen.h"
#include "codegen/ptx/PtxPipeline.h"
#include "executor/CompilerVersion.h"
#include "ir/Diagnostics.h"
#include "ir/KilnOps.h"
#include "passes/Pipeline.h"

#include "absl/status/status.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

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
      return absl::InvalidArgumentError(
          "unknown provider '" + provider +
          "' (expected OP=PROVIDER; this build has: matmul=cublas)");
    if (options.target != "ptx")
      return absl::InvalidArgumentError(
          "provider '" + provider + "' applies to the ptx target only, not '" +
          options.target + "'");
    cublasMatmul = true;
  }
  if (options.dataParallel < 1)
    return absl::InvalidArgumentError(
        "data parallel group size must be at least 1, got " +
        std::to_string(options.dataParallel));
  if (options.expertParallel < 1)
    return absl::InvalidArgumentError(
        "expert parallel group size must be at least 1, got " +
        std::to_string(options.expertParallel));
  if (options.dataParallel > 1 && options.expertParallel > 1 &&
      options.dataParallel != options.expertParallel)
    return absl::InvalidArgumentError(
        "data and expert parallelism share one world: their group sizes (" +
        std::to_string(options.dataParallel) + " and " +
        std::to_string(options.expertParallel) + ") must be equal");
  if (options.zero != 0 && options.zero != 1)
    return absl::InvalidArgumentError(
        "zero must be 0 or 1 (ZeRO stage 1: sharded optimizer state), got " +
        std::to_string(options.zero));
  if (options.zero == 1 && options.dataParallel < 2)
    return absl::InvalidArgumentError(
        "zero=1 shards the optimizer state over data-parallel ranks: it "
        "needs data parallel > 1, got " +
        std::to_string(options.dataParallel));
  if (options.zero == 1 && options.target != "host")
    return absl::InvalidArgumentError(
        "zero=1 is built for the host target (CPU ranks under MPI), not '" +
        options.target + "'");
  if (auto s = module.verify(); !s.ok())
    return s;
  DiagnosticCollector diagnostics(module.context());
  mlir::PassManager pm(&module.context());
  ptx::PtxOptions ptxOptions;
  if (options.target == "ptx") {
    ptx::PtxGraphOptions graph;
    graph.decomposeAll = options.decompose;
    graph.fuseMoe = options.fuseMoe;
    graph.dataParallel = options.dataParallel;
    graph.gradientBucketBytes = options.gradientBucketBytes;
    graph.expertParallel = options.expertParallel;
    graph.target.chip = ptxOptions.chip;
    graph.target.wgmma = options.wgmmaMatmul;
    graph.moePlanKernel = options.moePlanKernel;
    graph.fuseGemms = options.fuseGemms;
    graph.gateUpKernel = options.gateUpKernel;
    graph.precision = options.precision;
    graph.precisionKeep = options.precisionKeep;
    graph.hoistDerivedState = options.hoistDerivedState;
    graph.target.cublasMatmul = cublasMatmul;
    ptx::buildPtxGraphPipeline(pm, graph);
  } else {
    passes::PipelineOptions pipeline;
    pipeline.decompose = options.decompose;
    pipeline.fuseMoe = options.fuseMoe;
    pipeline.dataParallel = options.dataParallel;
    pipeline.zero = options.zero;
    pipeline.gradientBucketBytes = options.gradientBucketBytes;
    pipeline.expertParallel = options.expertParallel;
    pipeline.precision = options.precision;
    pipeline.precisionKeep = options.precisionKeep;
    pipeline.hoistDerivedState = options.hoistDerivedState;
    passes::buildHostPipeline(pm, pipeline);
  }
  IrDumper *dumper = nullptr;
  if (!options.dumpIrDir.empty()) {
    auto owned = std::make_unique<IrDumper>(options.dumpIrDir);
    dumper = owned.get();
    if (auto s = dumper->begin(module.module()); !s.ok())
      return s;
    pm.addInstrumentation(std::move(owned));
    // The precision policy's choices as a table beside the IR: the operands
    // quantized, their scale schemes and the bytes saved (the table
    // --precision-report prints).
    if (options.precision != "bf16") {
      absl::StatusOr<std::string> report =
          precisionReport(module.str(/*withLocations=*/true), "input", options);
      if (!report.ok())
        return report.status();
      std::string path = options.dumpIrDir + "/precision-report.txt";
      std::error_code ec;
      llvm::raw_fd_ostream os(path, ec);
      if (ec)
        return absl::InvalidArgumentError("cannot write '" + path +
                                          "': " + ec.message());
      os << *report;
    }
  }
  if (mlir::failed(pm.run(module.module())))
    return absl::InvalidArgumentError(
        diagnostics.message("the pass pipeline failed"));
  if (dumper && !dumper->status().ok())
    return dumper->status();
  if (options.target == "ptx") {
    ptxOptions.dumpDir = options.dumpIrDir;
    return ptx::lowerToPtx(module.module(), ptxOptions);
  }
  return lowerToHost(module.module());
}

} // namespace kiln::codegen
