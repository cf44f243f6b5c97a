//===- kiln-serve.cpp - an OpenAI-compatible server for a DeepSeek-V3 model
//===//
//
// Flag parsing and wiring: reads the model directory, compiles its prefill and
// decode entries for the slots and context asked for, loads the weights and
// serves the OpenAI API (serving/) until SIGINT or SIGTERM.
//
//===----------------------------------------------------------------------===//

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <pthread.h>
#include <string>
#include <thread>

#include "models/deepseek/HfCheckpoint.h"
#include "models/serve/ServeGraph.h"
#include "models/train/TrainDevice.h"
#include "serving/Engine.h"
#include "serving/HttpServer.h"
#include "serving/Metrics.h"
#include "serving/ModelDir.h"

using namespace kiln;

static const char *kUsage =
    R"(kiln-serve: serve a DeepSeek-V3-architecture model over the OpenAI API

usage: kiln-serve --model=DIR [--port=N] [--host=ADDR] [--slots=N] [--context=N]
                  [--device=cpu|cuda] [--served-model-name=NAME]
                  [--chat-template=NAME] [--max-queue=N] [--threads=N]
                  [--max-body-bytes=N]

  --model=DIR        a Hugging Face model directory (config.json, model.safetensors,
                     tokenizer.json, tokenizer_config.json) or a kiln-train --output-dir
  --port=N           TCP port (default 8000; 0 picks a free one, printed at start)
  --host=ADDR        address to listen on (default 127.0.0.1)
  --slots=N          sequences decoded together (default 16)
  --context=N        cache positions per sequence, prompt included (default: the
                     model's max_position_embeddings, at most 4096)
  --device=DEVICE    cpu (default) or cuda
  --served-model-name=NAME
                     the model id clients name (default: the directory's name)
  --chat-template=NAME
                     deepseek-v3, deepseek-r1, chatml or kiln:<text with {question}>,
                     instead of tokenizer_config.json's
  --max-queue=N      sequences that may wait for a slot before 429 (default 256)
  --threads=N        HTTP connections served at once (default 64)
  --max-body-bytes=N larger request bodies get 413 (default 1048576)
)";

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-serve: error: %s\n", message.c_str());
  return 1;
}

static std::optional<int64_t> parseInt(const std::string &text) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno)
    return std::nullopt;
  return v;
}

int main(int argc, char **argv) {
  std::string modelPath, device = "cpu", chatTemplate, name;
  serving::ServerOptions server;
  int64_t slots = 16, context = 0, maxQueue = 256;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) -> std::optional<std::string> {
      std::string prefix = std::string(flag) + "=";
      if (arg.rfind(prefix, 0) == 0)
        return arg.substr(prefix.size());
      return std::nullopt;
    };
    auto integer = [&](const char *flag, int64_t lo, int64_t hi,
                       int64_t &out) -> bool {
      auto v = value(flag);
      if (!v)
        return false;
      auto n = parseInt(*v);
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
    } else if (auto v = value("--device")) {
      device = *v;
    } else if (auto v = value("--served-model-name")) {
      name = *v;
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

  auto dir = serving::openModelDir(modelPath, chatTemplate);
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

  if (auto s = train::checkDevice(device); !s.ok())
    return fail(std::string(s.message()));
  auto target = train::targetForDevice(device);
  auto exe = models::compileServeModel(dir->config, {slots, context}, *target);
  if (!exe.ok())
    return fail(std::string(exe.status().message()));
  auto runner = train::openExecutor(device, *std::move(exe));
  if (!runner.ok())
    return fail(std::string(runner.status().message()));
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
  std::printf("kiln-serve: serving '%s' on http://%s:%d (%lld slots, context "
              "%lld, chat template %s, %s)\n",
              name.c_str(), server.host.c_str(), http.port(),
              static_cast<long long>(slots), static_cast<long long>(context),
              dir->chatTemplate ? dir->chatTemplate->name().c_str() : "none",
              (*runner)->deviceDescription().c_str());
  std::fflush(stdout);
  if (auto s = http.serve(); !s.ok())
    return fail(std::string(s.message()));
  return 0;
}
