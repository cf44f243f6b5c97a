//===- deepseek_decode_run.cpp - decode tokens/s of a DeepSeek-V3 bundle ----===//
//
// Runtime-only and statically linked (carried to the GPU machine): loads the
// bundle deepseek_decode_export wrote, the weights of a Hugging Face checkpoint
// (or, without one, the model's seeded initialisers), and times generate() --
// prefill, then one decode call per token, every call a CUDA graph replay --
// for a batch of prompts (random, or the peer's from --prompts), greedy,
// without EOS, so every row produces exactly --new-tokens tokens. One warm-up
// generation of the full length captures the graphs; the best of --runs timed
// generations is reported, and --tokens-out writes every generated token so
// decode_bench.py can compare them with transformers' greedy tokens.
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/DecodeBundleKey.h"
#include "executor/Bundle.h"
#include "executor/CompilerVersion.h"
#include "executor/cuda/CudaExecutor.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/deepseek/Generate.h"
#include "models/deepseek/HfCheckpoint.h"
#include "tools/FlagParsing.h"

using namespace kiln;

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-bench-decode: error: %s\n", message.c_str());
  return 1;
}

int main(int argc, char **argv) {
  std::string bundleDir, configPath, checkpoint, dtypeName = "bf16",
                                               precision = "bf16";
  std::string promptsPath, tokensOut;
  int64_t batch = 64, promptLen = 16, newTokens = 256, seed = 0, runs = 3;
  bool cudaGraph = true, greedyOnly = false, hoist = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag, std::string *out) {
      return tools::flagValue(arg, flag, *out);
    };
    std::string v;
    if (value("--bundle", &bundleDir) || value("--config", &configPath) ||
        value("--checkpoint", &checkpoint) || value("--dtype", &dtypeName) ||
        value("--prompts", &promptsPath) || value("--tokens-out", &tokensOut) ||
        value("--precision", &precision))
      continue;
    if (arg == "--no-cuda-graph") {
      cudaGraph = false;
      continue;
    }
    if (arg == "--greedy-only") {
      greedyOnly = true;
      continue;
    }
    if (arg == "--hoist-derived-state=false") {
      hoist = false;
      continue;
    }
    int64_t *target = tools::intFlagTarget(arg,
                                           {{"--batch", &batch},
                                            {"--prompt-len", &promptLen},
                                            {"--new-tokens", &newTokens},
                                            {"--seed", &seed},
                                            {"--runs", &runs}},
                                           v);
    if (arg == "--help") {
      std::printf(
          "usage: kiln-bench-decode --bundle=DIR --config=config.json [--checkpoint=HF_DIR]\n"
          "       [--dtype=bf16|f32] [--batch=64] [--prompt-len=16] [--new-tokens=256]\n"
          "       [--seed=0] [--no-cuda-graph] [--runs=3] [--prompts=FILE]\n"
          "       [--tokens-out=FILE] [--greedy-only] [--precision=bf16|fp8|int4]\n"
          "       [--hoist-derived-state=false]\n"
          "--greedy-only: the bundle entry exported with --greedy-only (argmax\n"
          "without the sampler's sort).\n"
          "--prompts: one prompt per line, --prompt-len token ids separated by\n"
          "spaces, --batch lines (else random prompts from --seed).\n"
          "--tokens-out: each row's generated tokens, one line per row.\n"
          "Prints: kiln decode batch=B prompt=P new_tokens=N seconds=S tokens_per_s=T\n");
      return 0;
    }
    if (!target)
      return fail(absl::StrCat("unknown flag '", arg, "' (see --help)"));
    if (!absl::SimpleAtoi(v, target) || *target < 0)
      return fail(absl::StrCat("'", arg, "' needs a non-negative integer"));
  }
  if (bundleDir.empty() || configPath.empty())
    return fail("--bundle and --config are required (see --help)");
  if (runs < 1)
    return fail("--runs must be at least 1");
  auto config = models::readDeepseekV3Config(configPath);
  if (!config.ok())
    return fail(std::string(config.status().message()));
  auto bundle = openBundle(bundleDir);
  if (!bundle.ok())
    return fail(std::string(bundle.status().message()));
  BundleKey key = bench::decodeBundleKey(
      {dtypeName, batch, promptLen, newTokens, greedyOnly, precision, hoist},
      kKilnCompilerVersion);
  auto exe = bundle->load(key);
  if (!exe.ok())
    return fail(absl::StrCat(exe.status().message(),
                             " (kiln-bench-decode-export --config=... --bundle=", bundleDir,
                             " with the same --dtype/--batch/--prompt-len/--new-tokens/--greedy-only/--precision/--hoist-derived-state fills it)"));
  CudaExecutorOptions options;
  options.useCudaGraph = cudaGraph;
  auto executor = CudaExecutor::create(*std::move(exe), options);
  if (!executor.ok())
    return fail(std::string(executor.status().message()));
  absl::Status loaded = checkpoint.empty()
                            ? (*executor)->initializeState()
                            : models::loadHfCheckpoint(**executor, *config, checkpoint);
  if (!loaded.ok())
    return fail(std::string(loaded.message()));

  std::vector<models::GenerationRequest> requests(batch);
  if (promptsPath.empty()) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int64_t> token(2, config->vocabSize - 1);
    for (models::GenerationRequest &r : requests) {
      r.prompt.resize(promptLen);
      for (int64_t &t : r.prompt)
        t = token(rng);
    }
  } else {
    std::ifstream in(promptsPath);
    if (!in)
      return fail(absl::StrCat("cannot read --prompts file '", promptsPath, "'"));
    std::string line;
    for (int64_t row = 0; row < batch; ++row) {
      if (!std::getline(in, line))
        return fail(absl::StrCat(promptsPath, " has ", row, " lines; --batch is ",
                                 batch));
      std::istringstream fields(line);
      int64_t t;
      while (fields >> t) {
        if (t < 0 || t >= config->vocabSize)
          return fail(absl::StrCat(promptsPath, ":", row + 1, ": token ", t,
                                   " is outside the vocabulary"));
        requests[row].prompt.push_back(t);
      }
      if (static_cast<int64_t>(requests[row].prompt.size()) != promptLen)
        return fail(absl::StrCat(promptsPath, ":", row + 1, ": ",
                                 requests[row].prompt.size(),
                                 " tokens; --prompt-len is ", promptLen));
    }
  }
  for (models::GenerationRequest &r : requests)
    r.maxNewTokens = newTokens;
  // The warm-up run (full length) allocates, uploads and captures every
  // entry's graph; then the best of `runs` timed generations.
  if (auto warm = models::generate(**executor, requests); !warm.ok())
    return fail(std::string(warm.status().message()));
  double seconds = 0;
  absl::StatusOr<std::vector<models::GenerationResult>> results;
  for (int64_t run = 0; run < runs; ++run) {
    auto start = std::chrono::steady_clock::now();
    results = models::generate(**executor, requests);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                   .count();
    if (!results.ok())
      return fail(std::string(results.status().message()));
    seconds = run == 0 ? s : std::min(seconds, s);
  }
  if (!tokensOut.empty()) {
    std::ofstream out(tokensOut);
    for (const models::GenerationResult &r : *results) {
      for (size_t i = 0; i < r.tokens.size(); ++i)
        out << (i ? " " : "") << r.tokens[i];
      out << "\n";
    }
    if (!out)
      return fail(absl::StrCat("cannot write --tokens-out file '", tokensOut, "'"));
  }
  int64_t tokens = 0;
  for (const models::GenerationResult &r : *results)
    tokens += static_cast<int64_t>(r.tokens.size());
  std::printf("kiln decode batch=%lld prompt=%lld new_tokens=%lld tokens=%lld seconds=%.4f "
              "tokens_per_s=%.1f device=%s\n",
              static_cast<long long>(batch), static_cast<long long>(promptLen),
              static_cast<long long>(newTokens), static_cast<long long>(tokens), seconds,
              tokens / seconds, (*executor)->deviceDescription().c_str());
  std::printf("first row: ");
  for (size_t i = 0; i < std::min<size_t>(12, (*results)[0].tokens.size()); ++i)
    std::printf("%lld ", static_cast<long long>((*results)[0].tokens[i]));
  std::printf("\n");
  return 0;
}
