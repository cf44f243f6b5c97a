//===- deepseek_decode_export.cpp - the decode bench's bundle
//---------------===//
//
// Builds a DeepSeek-V3 model from a config.json with its prefill and decode
// entries (DeepseekInference.h) for one batch / prompt / cache bucket, compiles
// it for the ptx target and adds it to a bundle under the key the runner
// (deepseek_decode_run.cpp) looks up (bench/DecodeBundleKey.h). Weights are
// not in the bundle: the runner loads a checkpoint made on the GPU machine.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/DecodeBundleKey.h"
#include "codegen/Compile.h"
#include "executor/Bundle.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekInference.h"
#include "tools/FlagParsing.h"

using namespace kiln;

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-bench-decode-export: error: %s\n",
               message.c_str());
  return 1;
}

int main(int argc, char **argv) {
  std::string configPath, bundleDir, dtypeName = "bf16", dumpIrDir,
                                     precision = "bf16";
  int64_t batch = 64, promptLen = 16, newTokens = 256;
  bool greedyOnly = false, hoist = true, fuseGemms = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--greedy-only") {
      greedyOnly = true;
      continue;
    }
    if (arg == "--hoist-derived-state=false") {
      hoist = false;
      continue;
    }
    if (arg == "--fuse-gemms=false") {
      fuseGemms = false;
      continue;
    }
    auto value = [&](const char *flag, std::string *out) {
      return tools::flagValue(arg, flag, *out);
    };
    std::string v;
    if (value("--config", &configPath) || value("--bundle", &bundleDir) ||
        value("--dtype", &dtypeName) || value("--dump-ir", &dumpIrDir) ||
        value("--precision", &precision))
      continue;
    int64_t *target = tools::intFlagTarget(arg,
                                           {{"--batch", &batch},
                                            {"--prompt-len", &promptLen},
                                            {"--new-tokens", &newTokens}},
                                           v);
    if (arg == "--help") {
      std::printf(
          "usage: kiln-bench-decode-export --config=config.json --bundle=DIR "
          "[--dtype=bf16|f32] [--batch=64] [--prompt-len=16] "
          "[--new-tokens=256] [--greedy-only (argmax entries: no sort, no "
          "sampling inputs)] [--precision=bf16|fp8|int4 "
          "(kiln-assign-precision's "
          "policy)] [--hoist-derived-state=false (recompute weight casts and "
          "quantization every step)] [--fuse-gemms=false (each GEMM, "
          "gather and elementwise op its own launch)] [--dump-ir=DIR (the IR "
          "after every pass)]\n");
      return 0;
    }
    if (!target)
      return fail(absl::StrCat("unknown flag '", arg, "' (see --help)"));
    if (!absl::SimpleAtoi(v, target) || *target < 1)
      return fail(absl::StrCat("'", arg, "' needs a positive integer"));
  }
  if (configPath.empty() || bundleDir.empty())
    return fail("--config and --bundle are required (see --help)");
  if (dtypeName != "bf16" && dtypeName != "f32")
    return fail(
        absl::StrCat("--dtype is '", dtypeName, "'; expected bf16 or f32"));
  auto config = models::readDeepseekV3Config(configPath);
  if (!config.ok())
    return fail(std::string(config.status().message()));

  int64_t maxLen = promptLen + newTokens;
  Graph graph("deepseek_decode");
  models::DeepseekV3Model model(graph, *config,
                                dtypeName == "bf16" ? DType::bf16 : DType::f32);
  models::InferenceShape shape{batch, promptLen, maxLen};
  shape.greedyOnly = greedyOnly;
  if (auto s = models::addDeepseekInference(graph, model, shape); !s.ok())
    return fail(std::string(s.message()));
  auto module = graph.build();
  if (!module.ok())
    return fail(std::string(module.status().message()));
  codegen::CompileOptions options;
  options.target = "ptx";
  options.dumpIrDir = dumpIrDir;
  options.precision = precision;
  options.hoistDerivedState = hoist;
  options.fuseGemms = fuseGemms;
  auto exe = codegen::compile(*module, options);
  if (!exe.ok())
    return fail(std::string(exe.status().message()));

  BundleKey key = bench::decodeBundleKey(
      {dtypeName, batch, promptLen, newTokens, greedyOnly, precision, hoist},
      exe->compiler_version());
  BundleEntry entry{key, bundleFileName(key)};
  // Under the bundle's lock: concurrent exports into one folder keep each
  // other's entries.
  if (auto s = addToBundle(bundleDir, {{entry, *exe}}); !s.ok())
    return fail(std::string(s.message()));
  int launches = 0;
  for (const proto::EntryPoint &ep : exe->entries())
    for (const proto::Step &s : ep.steps())
      launches += s.op() == "launch";
  std::printf("%s: %s (%d kernel launches over its entries)\n",
              entry.file.c_str(), bundleKeyString(key).c_str(), launches);
  return 0;
}
