//===- kiln-serve.cpp - an OpenAI-compatible server for a DeepSeek-V3 model
//===//
//
// Flag parsing and wiring: reads the model directory, compiles its prefill and
// decode entries for the slots and context asked for (or loads them from a
// bundle), loads the weights and serves the OpenAI API (serving/) until SIGINT
// or SIGTERM. --export-bundle writes the host and ptx Executables instead.
//
// Built twice: kiln-serve, with the compiler, and kiln-serve-rt
// (KILN_SERVE_RUNTIME_ONLY), without MLIR, which only loads bundles.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <pthread.h>
#include <string>
#include <thread>

#include "executor/Executor.h"
#include "executor/cuda/CudaExecutor.h"
#include "models/deepseek/HfCheckpoint.h"
#include "models/deepseek/HfModelDir.h"
#include "models/serve/ServeBundle.h"
#include "models/train/TrainDevice.h"
#include "serving/Engine.h"
#include "serving/HttpServer.h"
#include "serving/Metrics.h"
#include "tools/FlagParsing.h"
#ifndef KILN_SERVE_RUNTIME_ONLY
#include "models/precision/AutoPrecision.h"
#include "models/precision/CalibrationPrompts.h"
#include "models/serve/ServeGraph.h"
#endif

using namespace kiln;

#ifdef KILN_SERVE_RUNTIME_ONLY
static const char *kProgram = "kiln-serve-rt";
#else
static const char *kProgram = "kiln-serve";
#endif

static const char *kUsage =
    R"(kiln-serve: serve a DeepSeek-V3-architecture model over the OpenAI API
kiln-serve-rt: the same without the compiler (needs --bundle)

usage: kiln-serve --model=DIR [--port=N] [--host=ADDR] [--slots=N] [--context=N]
                  [--prefill-chunk=N] [--device=cpu|cuda] [--served-model-name=NAME]
                  [--chat-template=NAME] [--max-queue=N] [--threads=N]
                  [--max-body-bytes=N] [--dtype=f32|bf16] [--cuda-graphs=BOOL]
                  [--precision=bf16|fp8|int4|auto|WEIGHT=TYPE,...]
                  [--precision-budget=X] [--precision-calibration=FILE]
                  [--random-weights] [--bundle=DIR | --export-bundle=DIR]

  --model=DIR        a Hugging Face model directory (config.json, model.safetensors,
                     tokenizer.json, tokenizer_config.json, chat_template.jinja) or a
                     kiln-train --output-dir
  --port=N           TCP port (default 8000; 0 picks a free one, printed at start)
  --host=ADDR        address to listen on (default 127.0.0.1)
  --slots=N          sequences decoded together (default 16)
  --context=N        cache positions per sequence, prompt included (default: the
                     model's max_position_embeddings, at most 4096)
  --prefill-chunk=N  prompt tokens a joining sequence prefills per step (default 16;
                     0: a token per step through the decode entry)
  --device=DEVICE    cpu (default) or cuda
  --dtype=DTYPE      f32 (default) or bf16: the compiled model's parameters and
                     activations (a checkpoint of another dtype is converted)
  --precision=P      bf16 (default: GEMMs in --dtype), fp8 (weight GEMMs in
                     block-scaled E4M3) or int4 (weights quantized group-wise
                     along K); the embedding, output head and router stay.
                     auto (kiln-serve only): measure on calibration prompts
                     each weight GEMM's relative logits error alone in fp8
                     and int4 (one instrumented compile), pick the mix that
                     saves the most bytes within --precision-budget, check it
                     on held-out prompts, print the per-weight table and the
                     assignment, then serve it. WEIGHT=TYPE,... serves such an
                     assignment (TYPE bf16, fp8 or int4; kiln-serve-rt needs it
                     spelt out to find auto's bundle)
  --precision-budget=X
                     with --precision=auto: the relative logits error allowed
                     (> 0, e.g. 0.01), measured against --precision=bf16
  --precision-calibration=FILE
                     with --precision=auto: prompts, one a line (at least 2;
                     even lines calibrate, odd lines are held out), each
                     rendered by the chat template; default: 8 built-in short
                     arithmetic and chat prompts, 64 tokens at most each
  --cuda-graphs=BOOL with --device=cuda, replay each entry's launches as a CUDA
                     graph after its first run (default true)
  --random-weights   serve the parameters the compiled model initialises from its
                     seed instead of loading model.safetensors (tests, benchmarks)
  --served-model-name=NAME
                     the model id clients name (default: the directory's name)
  --chat-template=NAME
                     deepseek-v3, deepseek-r1, chatml or kiln:<text with {question}>,
                     instead of the directory's (chat_template.jinja or
                     tokenizer_config.json's chat_template)
  --max-queue=N      sequences that may wait for a slot before 429 (default 256)
  --threads=N        HTTP connections served at once (default 64)
  --max-body-bytes=N larger request bodies get 413 (default 1048576)
  --bundle=DIR       load the compiled entries from the bundle in DIR instead of
                     compiling (the only way for kiln-serve-rt)
  --export-bundle=DIR
                     compile the entries for host and ptx for this model, slots and
                     context, add them to the bundle in DIR and exit (kiln-serve only)
)";

static int fail(const std::string &message) {
  std::fprintf(stderr, "%s: error: %s\n", kProgram, message.c_str());
  return 1;
}

#ifndef KILN_SERVE_RUNTIME_ONLY
/// --precision=auto: the served model's logits on the calibration prompts,
/// compiled once with a switch per candidate weight, and the cheapest mix
/// within `budget` (models/precision/).
static absl::StatusOr<models::AutoPrecisionResult>
autoPrecision(const models::HfModelDir &dir, const std::string &modelPath,
              const std::string &dtype, int64_t context, bool randomWeights,
              const std::string &calibrationFile, double budget) {
  std::vector<std::string> prompts = models::defaultCalibrationPrompts();
  if (!calibrationFile.empty()) {
    auto read = models::readCalibrationPrompts(calibrationFile);
    if (!read.ok())
      return read.status();
    prompts = *std::move(read);
  }
  auto batches = models::encodeCalibrationPrompts(
      dir, prompts, std::min<int64_t>(64, context));
  if (!batches.ok())
    return batches.status();
  models::CalibrationSetup setup;
  setup.config = dir.config;
  setup.dtype = dtype == "bf16" ? DType::bf16 : DType::f32;
  if (dir.tokenizer->eosId())
    setup.padId = *dir.tokenizer->eosId();
  // The seed compileServeModel gives --random-weights.
  setup.seed = 0;
  if (!randomWeights)
    setup.loadWeights = [&](EntryRunner &runner) {
      return models::loadHfCheckpoint(runner, dir.config, modelPath);
    };
  auto calibration = models::PrecisionCalibration::create(
      setup, batches->calibration, batches->heldOut);
  if (!calibration.ok())
    return calibration.status();
  return models::chooseAutoPrecision(**calibration, budget);
}
#endif

static int serveMain(int argc, char **argv) {
  std::string modelPath, device = "cpu", chatTemplate, name, bundleDir,
                         exportDir, dtype = "f32", precision = "bf16",
                         calibrationFile;
  std::optional<double> budget;
  bool cudaGraphs = true, randomWeights = false;
  serving::ServerOptions server;
  int64_t slots = 16, context = 0, maxQueue = 256, prefillChunk = 16;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) { return tools::flagValue(arg, flag); };
    auto integer = [&](const char *flag, int64_t lo, int64_t hi,
                       int64_t &out) -> bool {
      auto v = value(flag);
      if (!v)
        return false;
      auto n = tools::parseInt(*v);
      if (!n || *n < lo || *n > hi) {
        std::fprintf(stderr,
                     "kiln-serve: error: %s needs an integer in [%lld, "
                     "%lld], got '%s'\n",
                     flag, (long long)lo, (long long)hi, v->c_str());
        std::exit(1);
      }
      out = *n;
      return true;
    };
    int64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (auto v = value("--model")) {
      modelPath = *v;
    } else if (auto v = value("--host")) {
      server.host = *v;
    } else if (integer("--port", 0, 65535, n)) {
      server.port = static_cast<int>(n);
    } else if (integer("--slots", 1, 4096, slots)) {
    } else if (integer("--context", 2, 1 << 20, context)) {
    } else if (integer("--prefill-chunk", 0, 1 << 20, prefillChunk)) {
    } else if (auto v = value("--device")) {
      device = *v;
    } else if (auto v = value("--dtype")) {
      if (*v != "f32" && *v != "bf16")
        return fail("--dtype is '" + *v + "'; expected f32 or bf16");
      dtype = *v;
    } else if (auto v = value("--precision-budget")) {
      // strtod takes "nan" and "inf"; a budget is a finite error above 0.
      char *end = nullptr;
      double x = v->empty() ? 0 : std::strtod(v->c_str(), &end);
      if (v->empty() || *end != '\0' || !std::isfinite(x) || x <= 0)
        return fail("--precision-budget is '" + *v +
                    "'; expected a relative logits error > 0, e.g. 0.01");
      budget = x;
    } else if (auto v = value("--precision-calibration")) {
      calibrationFile = *v;
    } else if (auto v = value("--precision")) {
      if (*v != "bf16" && *v != "fp8" && *v != "int4" && *v != "auto" &&
          v->find('=') == std::string::npos)
        return fail("--precision is '" + *v +
                    "'; expected bf16, fp8, int4, auto or WEIGHT=TYPE,...");
      precision = *v;
    } else if (auto v = value("--cuda-graphs")) {
      if (*v != "true" && *v != "false")
        return fail("--cuda-graphs is '" + *v + "'; expected true or false");
      cudaGraphs = *v == "true";
    } else if (arg == "--random-weights") {
      randomWeights = true;
    } else if (auto v = value("--served-model-name")) {
      name = *v;
    } else if (auto v = value("--bundle")) {
      bundleDir = *v;
    } else if (auto v = value("--export-bundle")) {
      exportDir = *v;
    } else if (auto v = value("--chat-template")) {
      chatTemplate = *v;
    } else if (integer("--max-queue", 0, 1 << 20, maxQueue)) {
    } else if (integer("--threads", 2, 4096, n)) {
      server.threads = static_cast<int>(n);
    } else if (integer("--max-body-bytes", 1024, int64_t{1} << 32, n)) {
      server.maxBodyBytes = static_cast<size_t>(n);
    } else {
      return fail("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (modelPath.empty())
    return fail("--model=DIR is required (see --help)");
  if (precision == "auto" && !budget)
    return fail("--precision=auto needs --precision-budget=X (the relative "
                "logits error allowed, e.g. 0.01)");
  if (precision != "auto" && (budget || !calibrationFile.empty()))
    return fail("--precision-budget and --precision-calibration go with "
                "--precision=auto");
  if (!bundleDir.empty() && !exportDir.empty())
    return fail("--bundle reads a bundle and --export-bundle writes one; pass "
                "only one");
#ifdef KILN_SERVE_RUNTIME_ONLY
  if (bundleDir.empty())
    return fail("kiln-serve-rt has no compiler: pass --bundle=DIR, a bundle "
                "written by kiln-serve --export-bundle=DIR with the same "
                "--model, --slots, --context, --prefill-chunk, --dtype and "
                "--precision");
#endif

  auto dir = models::openHfModelDir(modelPath, chatTemplate);
  if (!dir.ok())
    return fail(std::string(dir.status().message()));
  if (context == 0)
    context = std::min<int64_t>(dir->config.maxPositionEmbeddings, 4096);
  if (name.empty())
    name = std::filesystem::path(modelPath).lexically_normal().filename();
  if (name.empty())
    name = std::filesystem::path(modelPath)
               .lexically_normal()
               .parent_path()
               .filename();
  server.modelName = name;

  if (precision == "auto") {
#ifdef KILN_SERVE_RUNTIME_ONLY
    return fail("kiln-serve-rt cannot calibrate (no compiler): pass the "
                "--precision=WEIGHT=TYPE,... assignment that kiln-serve "
                "--precision=auto printed");
#else
    auto chosen = autoPrecision(*dir, modelPath, dtype, context, randomWeights,
                                calibrationFile, *budget);
    if (!chosen.ok())
      return fail(std::string(chosen.status().message()));
    std::fprintf(stderr, "%s: --precision=auto chose:\n%s", kProgram,
                 chosen->table().c_str());
    precision = chosen->assignment();
    std::printf("%s: precision %s\n", kProgram, precision.c_str());
#endif
  }
  models::ServeShape shape{slots, context, std::min(prefillChunk, context),
                           dtype, precision};
  if (!exportDir.empty()) {
#ifdef KILN_SERVE_RUNTIME_ONLY
    return fail("kiln-serve-rt has no compiler: run kiln-serve --export-bundle "
                "on a machine with the compiler");
#else
    auto keys = models::exportServeBundle(dir->config, shape, exportDir);
    if (!keys.ok())
      return fail(std::string(keys.status().message()));
    for (const BundleKey &key : *keys)
      std::printf("%s/%s: %s\n", exportDir.c_str(), bundleFileName(key).c_str(),
                  bundleKeyString(key).c_str());
    return 0;
#endif
  }
  if (auto s = train::checkDevice(device); !s.ok())
    return fail(std::string(s.message()));
  auto target = train::targetForDevice(device);
  absl::StatusOr<proto::Executable> exe;
  if (!bundleDir.empty()) {
    std::string fill =
        "kiln-serve --model=" + modelPath +
        " --slots=" + std::to_string(slots) +
        " --context=" + std::to_string(context) +
        " --prefill-chunk=" + std::to_string(prefillChunk) +
        " --dtype=" + dtype +
        (precision != "bf16" ? " --precision=" + precision : std::string()) +
        " --export-bundle=" + bundleDir;
    exe = models::loadServeExecutable(bundleDir, dir->config, shape, *target,
                                      fill);
  } else {
#ifndef KILN_SERVE_RUNTIME_ONLY
    exe = models::compileServeModel(dir->config, shape, *target);
#endif
  }
  if (!exe.ok())
    return fail(std::string(exe.status().message()));
  // The CPU executor in batch-invariant mode: a request's tokens must not
  // depend on what else is being served. On the GPU each entry's launches
  // are captured once and replayed as a CUDA graph.
  absl::StatusOr<std::unique_ptr<EntryRunner>> runner;
  if (device == "cpu") {
    ExecutorOptions executorOptions;
    executorOptions.batchInvariant = true;
    auto cpu = Executor::create(*std::move(exe), executorOptions);
    if (!cpu.ok())
      return fail(std::string(cpu.status().message()));
    runner = std::unique_ptr<EntryRunner>(std::move(*cpu));
  } else {
    CudaExecutorOptions cudaOptions;
    cudaOptions.useCudaGraph = cudaGraphs;
    auto gpu = CudaExecutor::create(*std::move(exe), cudaOptions);
    if (!gpu.ok())
      return fail(std::string(gpu.status().message()));
    runner = std::unique_ptr<EntryRunner>(std::move(*gpu));
  }
  if (auto s = (*runner)->initializeState(); !s.ok())
    return fail(std::string(s.message()));
  if (!randomWeights)
    if (auto s = models::loadHfCheckpoint(**runner, dir->config, modelPath);
        !s.ok())
      return fail(std::string(s.message()));

  serving::Metrics metrics;
  serving::EngineOptions engineOptions;
  engineOptions.maxWaiting = maxQueue;
  engineOptions.eosId = dir->tokenizer->eosId();
  engineOptions.metrics = &metrics;
  auto engine = serving::Engine::create(**runner, engineOptions);
  if (!engine.ok())
    return fail(std::string(engine.status().message()));

  // SIGINT/SIGTERM are taken by a thread of their own (httplib's stop is not
  // async-signal-safe); every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  serving::HttpServer http({**engine, *dir->tokenizer,
                            dir->chatTemplate ? &*dir->chatTemplate : nullptr,
                            metrics},
                           server);
  if (auto s = http.bind(); !s.ok())
    return fail(std::string(s.message()));
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    http.stop();
  });
  waiter.detach();
  std::printf("%s: serving '%s' on http://%s:%d (%lld slots, context "
              "%lld, %s, chat template %s, %s%s)\n",
              kProgram, name.c_str(), server.host.c_str(), http.port(),
              static_cast<long long>(slots), static_cast<long long>(context),
              dtype.c_str(),
              dir->chatTemplate ? dir->chatTemplate->name().c_str() : "none",
              (*runner)->deviceDescription().c_str(),
              randomWeights ? ", seed-initialised weights" : "");
  std::fflush(stdout);
  if (auto s = http.serve(); !s.ok())
    return fail(std::string(s.message()));
  return 0;
}

int main(int argc, char **argv) {
  // An error is a message and exit status 1, never an abort.
  try {
    return serveMain(argc, argv);
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "kiln-serve: out of memory\n");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kiln-serve: internal error: %s\n", e.what());
  }
  return 1;
}
