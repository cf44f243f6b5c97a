//===- kiln-compile.cpp - compile a .mlir file to an Executable
//------------===//
//
// Reads kiln IR, runs the target's pass pipeline (optionally dumping the IR
// after every pass), and writes the Executable the executor runs.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include "absl/strings/str_format.h"
#include "codegen/Compile.h"
#include "executor/Bundle.h"
#include "executor/Executor.h"
#include "ir/IrModule.h"
#include "tools/MlirInputGuard.h"
#include "llvm/Support/CommandLine.h"

namespace cl = llvm::cl;

static cl::OptionCategory category("kiln-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input .mlir>"),
                                      cl::cat(category));
static cl::opt<std::string> outputFile(
    "o",
    cl::desc("Write the Executable to this file (binary protobuf; text format "
             "with --text)"),
    cl::value_desc("file"), cl::cat(category));
static cl::opt<bool>
    textFormat("text", cl::desc("Write the Executable in protobuf text format"),
               cl::cat(category));
static cl::opt<std::string> dumpIr(
    "dump-ir",
    cl::desc("Write the IR before the pipeline and after every pass into this "
             "folder, one numbered file per pass"),
    cl::value_desc("dir"), cl::cat(category));
static cl::opt<std::string> target(
    "target",
    cl::desc(
        "Target to compile for: host (CPU executor) or ptx (CUDA executor)"),
    cl::init("host"), cl::cat(category));
static cl::opt<bool> decompose(
    "decompose",
    cl::desc("Expand composite ops (softmax, attention, ...) into primitives"),
    cl::cat(category));
static cl::opt<bool> fuseMoe(
    "fuse-moe",
    cl::desc("Rewrite MoE dispatch into the fused MoE ops (kiln-fuse-moe); "
             "--fuse-moe=false keeps the ops the model wrote (default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<int64_t> dataParallel(
    "data-parallel",
    cl::desc("Compile for N data-parallel ranks (kiln-data-parallel): "
             "replicated parameters' gradients and the returned loss are "
             "averaged over them with kiln.all_reduce; run the result with "
             "mpirun -np N (default 1: no collectives)"),
    cl::init(1), cl::value_desc("N"), cl::cat(category));
static cl::opt<int64_t> zero(
    "zero",
    cl::desc("ZeRO stage with --data-parallel=N: 1 keeps 1/N of every "
             "optimizer state tensor per rank (kiln-shard-optimizer-state: "
             "gradients reduce_scattered, the update on the rank's block, "
             "parameters all_gathered); 0 keeps it whole (default 0)"),
    cl::init(0), cl::value_desc("STAGE"), cl::cat(category));
static cl::opt<int64_t> gradientBucketBytes(
    "gradient-bucket-bytes",
    cl::desc("With --data-parallel=N: most gradient bytes in one all_reduce "
             "(kiln-bucket-gradients; default 25 MiB, PyTorch DDP's)"),
    cl::init(25 << 20), cl::value_desc("BYTES"), cl::cat(category));
static cl::opt<int64_t> expertParallel(
    "expert-parallel",
    cl::desc("Compile for N expert-parallel ranks (kiln-expert-parallel): "
             "parameters marked sharding = \"experts\" keep E/N experts per "
             "rank and MoE rows travel by kiln.all_to_all (default 1)"),
    cl::init(1), cl::value_desc("N"), cl::cat(category));
static cl::list<std::string> providers(
    "provider",
    cl::desc(
        "Route an op of the ptx target to a vendor library loaded at run time "
        "instead of Kiln's PTX: matmul=cublas (may repeat; off by default)"),
    cl::value_desc("op=provider"), cl::cat(category));
static cl::opt<bool>
    wgmma("wgmma",
          cl::desc("ptx target: run bf16/f16 matmuls on the Hopper kernel "
                   "(wgmma + TMA, sm_90a); "
                   "--wgmma=false selects the mma.sync kernel (default true)"),
          cl::init(true), cl::cat(category));
static cl::opt<bool> moePlanKernel(
    "moe-plan-kernel",
    cl::desc("ptx target: run MoE plans of at most 1024 token-expert pairs as "
             "one kernel; --moe-plan-kernel=false plans with argsort, "
             "bincount and cumsum (default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> fuseGemms(
    "fuse-gemms",
    cl::desc("ptx target on Hopper: fuse the wgmma GEMMs' neighbours "
             "(moe_gate_up as one launch with the token gather and SwiGLU, a "
             "SwiGLU MLP's projections with their gated product, A read "
             "through its producer's strided view, GEMMs of one A by "
             "unwritten weights as one); --fuse-gemms=false keeps "
             "each its own launch (default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> gateUpKernel(
    "gate-up-kernel",
    cl::desc("ptx target on Hopper, with --fuse-gemms: moe_gate_up as one "
             "wgmma launch (token gather and SwiGLU inside); off by default, "
             "as on an H100 it ran slower than its expansion"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> hoistDerivedState(
    "hoist-derived-state",
    cl::desc("Compute what entries derive from parameters alone (casts and "
             "quantization of weights) once, as derived state the executor "
             "refreshes after a parameter is written "
             "(kiln-hoist-derived-state; default true)"),
    cl::init(true), cl::cat(category));
static cl::opt<std::string> precision(
    "precision",
    cl::desc("Precision policy (kiln-assign-precision): bf16 keeps the types "
             "the model wrote; fp8 runs weight GEMMs and their gradients' "
             "GEMMs in E4M3 with 1x128 activation and 128x128 weight scales; "
             "fp8-delayed does so with one scale per tensor from its amax "
             "history (state of kind precision); "
             "int4 (inference only) quantizes weights group-wise along K; "
             "WEIGHT=TYPE,... chooses per weight (TYPE bf16, fp8 or int4; "
             "WEIGHT a parameter name or a substring of names), e.g. the "
             "assignment kiln-serve --precision=auto measured and printed "
             "(default bf16)"),
    cl::init("bf16"), cl::cat(category));
static cl::list<std::string> precisionKeep(
    "precision-keep",
    cl::desc("Parameter name substring that keeps the model's type under "
             "--precision=fp8 (may repeat; default embed_tokens, lm_head, "
             "mlp.gate.weight)"),
    cl::value_desc("pattern"), cl::cat(category));
static cl::opt<bool> precisionReport(
    "precision-report",
    cl::desc("Print every quantized GEMM operand: its weight, shape, type, "
             "scale blocks and the bytes it saves"),
    cl::cat(category));
static cl::opt<std::string> bundleDir(
    "bundle",
    cl::desc("Compile for both the host and the ptx target and add the two "
             "Executables to the bundle in this folder (manifest.json)"),
    cl::value_desc("dir"), cl::cat(category));
static cl::opt<std::string> modelHash(
    "model-hash",
    cl::desc("Bundle key: the hash of the model config that produced the graph "
             "(default: the input file's stem)"),
    cl::cat(category));
static cl::opt<std::string> bucket("bucket",
                                   cl::desc("Bundle key: the shape bucket"),
                                   cl::init("default"), cl::cat(category));
static cl::opt<bool> printIr("print-ir",
                             cl::desc("Print the IR after the pipeline"),
                             cl::cat(category));
// LLVM itself registers -stats.
static cl::opt<bool> stats(
    "print-stats",
    cl::desc("Print each entry point's step count and peak memory in bytes"),
    cl::cat(category));

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-compile: error: %s\n", message.c_str());
  return 1;
}

/// Compiles `text` for the host and the ptx target and adds both Executables to
/// the bundle, keyed by model hash, module name, bucket, target and compiler
/// version (never by the graph itself: a runtime without the compiler can
/// compute the key).
static int writeBundle(const std::string &text, const std::string &input) {
  std::string stem = std::filesystem::path(input).stem().string();
  std::vector<std::pair<kiln::BundleEntry, kiln::proto::Executable>> added;
  for (const char *target : {"host", "ptx"}) {
    auto module = kiln::IrModule::parse(text, input);
    if (!module.ok())
      return fail(std::string(module.status().message()));
    kiln::codegen::CompileOptions options;
    options.target = target;
    options.decompose = decompose;
    options.fuseMoe = fuseMoe;
    if (std::string(target) == "ptx")
      options.providers.assign(providers.begin(), providers.end());
    options.wgmmaMatmul = wgmma;
    options.moePlanKernel = moePlanKernel;
    options.fuseGemms = fuseGemms;
    options.gateUpKernel = gateUpKernel;
    options.hoistDerivedState = hoistDerivedState;
    options.precision = precision;
    options.precisionKeep.assign(precisionKeep.begin(), precisionKeep.end());
    auto exe = kiln::codegen::compile(*module, options);
    if (!exe.ok())
      return fail(std::string(exe.status().message()));
    kiln::BundleKey key{modelHash.empty() ? stem : std::string(modelHash), stem,
                        bucket, target, exe->compiler_version()};
    added.push_back(
        {kiln::BundleEntry{key, kiln::bundleFileName(key)}, *std::move(exe)});
  }
  // Under the bundle's lock: concurrent kiln-compile runs into one folder
  // each keep their entries.
  if (auto s = kiln::addToBundle(bundleDir, added); !s.ok())
    return fail(std::string(s.message()));
  return 0;
}

static int run(int argc, char **argv) {
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv, "kiln-compile: compiles kiln IR to an Executable\n");
  if (inputFile.empty())
    return fail("expected exactly one input file (see --help)");
  std::string input = inputFile;
  std::ifstream in(input);
  if (!in)
    return fail(
        absl::StrFormat("cannot open '%s': %s", input, std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (std::string refused = kiln::tools::checkMlirInput(buffer.str(), input);
      !refused.empty())
    return fail(refused);

  if (!bundleDir.empty()) {
    if (dataParallel != 1 || expertParallel != 1 || zero != 0)
      return fail("--data-parallel, --expert-parallel and --zero apply to a "
                  "single Executable (-o), not "
                  "to --bundle, whose entries hold both targets");
    return writeBundle(buffer.str(), input);
  }

  if (zero != 0 && zero != 1)
    return fail(absl::StrFormat("--zero must be 0 or 1 (ZeRO stage 1 shards "
                                "the optimizer state), got %d",
                                static_cast<int64_t>(zero)));
  if (zero == 1 && dataParallel < 2)
    return fail(absl::StrFormat(
        "--zero=1 shards the optimizer state over data-parallel ranks: it "
        "needs --data-parallel=N with N > 1, got --data-parallel=%d",
        static_cast<int64_t>(dataParallel)));
  if (zero == 1 && std::string(target) != "host")
    return fail("--zero=1 is built for the host target (CPU ranks under "
                "MPI), not --target=" +
                std::string(target));
  auto module = kiln::IrModule::parse(buffer.str(), input);
  if (!module.ok())
    return fail(std::string(module.status().message()));

  kiln::codegen::CompileOptions options;
  options.target = target;
  options.decompose = decompose;
  options.fuseMoe = fuseMoe;
  options.dataParallel = dataParallel;
  options.expertParallel = expertParallel;
  options.zero = zero;
  if (gradientBucketBytes < 1)
    return fail(absl::StrFormat(
        "--gradient-bucket-bytes must be positive, got %d",
        static_cast<int64_t>(gradientBucketBytes)));
  options.gradientBucketBytes = gradientBucketBytes;
  options.dumpIrDir = dumpIr;
  options.providers.assign(providers.begin(), providers.end());
  options.wgmmaMatmul = wgmma;
  options.moePlanKernel = moePlanKernel;
  options.fuseGemms = fuseGemms;
  options.gateUpKernel = gateUpKernel;
  options.hoistDerivedState = hoistDerivedState;
  options.precision = precision;
  options.precisionKeep.assign(precisionKeep.begin(), precisionKeep.end());
  if (precisionReport) {
    auto report = kiln::codegen::precisionReport(buffer.str(), input, options);
    if (!report.ok())
      return fail(std::string(report.status().message()));
    std::printf("%s", report->c_str());
  }
  auto exe = kiln::codegen::compile(*module, options);
  if (!exe.ok())
    return fail(std::string(exe.status().message()));

  if (printIr)
    std::printf("%s", module->str().c_str());
  if (stats)
    for (const auto &entry : exe->entries())
      std::printf("entry %s: %d steps, %d buffers, peak %lld bytes\n",
                  entry.name().c_str(), entry.steps_size(),
                  entry.buffers_size(),
                  static_cast<long long>(entry.peak_bytes()));
  std::string output = outputFile;
  if (!output.empty())
    if (auto s = kiln::writeExecutable(*exe, output, textFormat); !s.ok())
      return fail(std::string(s.message()));
  return 0;
}

int main(int argc, char **argv) {
  // An error is a message and exit status 1, never an abort.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    return fail("out of memory");
  } catch (const std::exception &e) {
    return fail(std::string("internal error: ") + e.what());
  }
}
