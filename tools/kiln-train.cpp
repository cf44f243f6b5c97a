//===- kiln-train.cpp - train a reasoning model: SFT cold start, then GRPO -===//
//
// Reads a textproto TrainConfig (models/train/train_config.proto documents every
// field) plus --set overrides, compiles the policy's entries for the CPU, and
// runs the supervised cold start and GRPO with rule-based rewards, printing the
// held-out accuracy after each phase. Ctrl-C checkpoints before exiting.
//
//===----------------------------------------------------------------------===//

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/Executor.h"
#include "models/train/ReasonerGraph.h"
#include "models/train/TrainConfig.h"
#include "models/train/Trainer.h"

using namespace kiln;

static std::atomic<bool> interrupted{false};

static const char *kUsage = R"(kiln-train: train a small MoE reasoning model (SFT cold start, then GRPO)

usage: kiln-train [--config=FILE] [--set=TEXTPROTO]... [--mode=sft|grpo|sft+grpo]
                  [--device=cpu] [--output-dir=DIR] [--resume]

  --config=FILE     a kiln.train.TrainConfig in protobuf text format
                    (models/train/train_config.proto documents every field)
  --set=TEXTPROTO   a fragment merged over the file, e.g. --set='grpo { beta: 0.04 }';
                    may be repeated, applied in order
  --mode=MODE       shorthand for --set='mode: "MODE"'
  --device=DEVICE   cpu (the default; the only device of this build)
  --output-dir=DIR  metrics.jsonl, TensorBoard events (tb/) and checkpoints
  --resume          continue from DIR/checkpoint.safetensors
  --show-samples=N  print N held-out completions at each evaluation
  --help            this text
)";

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-train: error: %s\n", message.c_str());
  return 1;
}

static double accuracyPercent(const train::EvalResult &e) { return 100.0 * e.accuracy; }

int main(int argc, char **argv) {
  std::string configPath;
  std::vector<std::string> overrides;
  bool resume = false;
  int64_t showSamples = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) -> std::optional<std::string> {
      std::string prefix = std::string(flag) + "=";
      if (arg.rfind(prefix, 0) == 0)
        return arg.substr(prefix.size());
      return std::nullopt;
    };
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (auto v = value("--config")) {
      configPath = *v;
    } else if (auto v = value("--set")) {
      overrides.push_back(*v);
    } else if (auto v = value("--mode")) {
      overrides.push_back("mode: \"" + *v + "\"");
    } else if (auto v = value("--device")) {
      overrides.push_back("device: \"" + *v + "\"");
    } else if (auto v = value("--output-dir")) {
      overrides.push_back("output_dir: \"" + *v + "\"");
    } else if (auto v = value("--show-samples")) {
      char *end = nullptr;
      showSamples = std::strtoll(v->c_str(), &end, 10);
      if (*end || showSamples < 0)
        return fail("--show-samples needs a non-negative integer, got '" + *v + "'");
    } else if (arg == "--resume") {
      resume = true;
    } else {
      return fail("unknown argument '" + arg + "' (see --help)");
    }
  }
  auto config = configPath.empty() ? train::parseTrainConfig("", "defaults", overrides)
                                   : train::loadTrainConfig(configPath, overrides);
  if (!config.ok())
    return fail(std::string(config.status().message()));

  auto sizes = train::Trainer::measure(*config);
  if (!sizes.ok())
    return fail(std::string(sizes.status().message()));
  auto [promptLen, demoLen] = *sizes;
  int64_t seqLen = std::max<int64_t>(demoLen, promptLen + config->grpo().max_new_tokens());
  if (seqLen > config->model().max_position_embeddings())
    return fail(absl::StrFormat("sequences need %d positions but model.max_position_embeddings "
                                "is %d",
                                seqLen, config->model().max_position_embeddings()));
  train::ReasonerShapes shapes{seqLen, promptLen, config->sft().batch_size(),
                               config->grpo().prompts_per_step() * config->grpo().group_size()};

  auto start = std::chrono::steady_clock::now();
  auto graph = train::buildReasonerGraph(*config, shapes);
  if (!graph.ok())
    return fail(std::string(graph.status().message()));
  auto module = graph->build();
  if (!module.ok())
    return fail(std::string(module.status().message()));
  auto exe = codegen::compile(*module);
  if (!exe.ok())
    return fail(std::string(exe.status().message()));
  auto executor = Executor::create(*exe);
  if (!executor.ok())
    return fail(std::string(executor.status().message()));
  if (auto s = (*executor)->initializeState(); !s.ok())
    return fail(std::string(s.message()));
  std::printf("compiled the policy's entries in %.1f s (sequence length %lld)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
              static_cast<long long>(seqLen));

  auto trainer = train::Trainer::create(*config, **executor, seqLen, promptLen);
  if (!trainer.ok())
    return fail(std::string(trainer.status().message()));
  std::signal(SIGINT, [](int) { interrupted = true; });
  (*trainer)->setStopFlag(&interrupted);
  bool tty = isatty(fileno(stdout));
  // Rates count from the first reported step of a phase, so step 1 has none yet.
  auto phaseStart = std::chrono::steady_clock::now();
  std::string currentPhase;
  int64_t firstReported = 0;
  (*trainer)->setProgress([&](const std::string &phase, int64_t step, int64_t total,
                              const std::string &summary) {
    if (phase != currentPhase) {
      currentPhase = phase;
      firstReported = step;
      phaseStart = std::chrono::steady_clock::now();
    }
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - phaseStart).count();
    double rate = step > firstReported ? (step - firstReported) / std::max(elapsed, 1e-9) : 0;
    double eta = rate > 0 ? (total - step) / rate : 0;
    if (tty) {
      int filled = static_cast<int>(30.0 * step / std::max<int64_t>(total, 1));
      std::printf("\r%-4s [%-30s] %lld/%lld %.2f it/s ETA %.0fs  %s   ", phase.c_str(),
                  std::string(filled, '#').c_str(), static_cast<long long>(step),
                  static_cast<long long>(total), rate, eta, summary.c_str());
      if (step == total)
        std::printf("\n");
      std::fflush(stdout);
    } else if (step % 10 == 0 || step == total) {
      std::printf("%s step %lld/%lld (%.2f it/s, ETA %.0fs) %s\n", phase.c_str(),
                  static_cast<long long>(step), static_cast<long long>(total), rate, eta,
                  summary.c_str());
      std::fflush(stdout);
    }
  });

  std::string phase = "sft";
  int64_t firstStep = 0;
  if (resume) {
    auto metadata =
        loadCheckpoint(**executor, config->output_dir() + "/checkpoint.safetensors");
    if (!metadata.ok())
      return fail(std::string(metadata.status().message()));
    phase = metadata->count("phase") ? metadata->at("phase") : "sft";
    firstStep = metadata->count("step") ? std::stoll(metadata->at("step")) : 0;
    std::printf("resumed %s at step %lld\n", phase.c_str(), static_cast<long long>(firstStep));
  }

  const std::string &mode = config->mode();
  bool doSft = mode != "grpo" && phase == "sft";
  bool doGrpo = mode != "sft";
  if (doSft) {
    if (auto s = (*trainer)->runSft(firstStep); !s.ok())
      return fail(std::string(s.message()));
    firstStep = 0;
    if (interrupted)
      return fail("interrupted; checkpoint saved, continue with --resume");
    auto eval = (*trainer)->evaluate(showSamples);
    if (!eval.ok())
      return fail(std::string(eval.status().message()));
    std::printf("accuracy after SFT: %.1f%% (± %.1f, %lld held-out problems, format %.0f%%)\n",
                accuracyPercent(*eval), 100 * eval->stdError,
                static_cast<long long>(eval->problems), 100 * eval->formatRate);
    if (auto s = (*trainer)->saveCheckpoint("grpo", 0); !s.ok())
      return fail(std::string(s.message()));
  }
  if (doGrpo) {
    if (auto s = (*trainer)->runGrpo(firstStep); !s.ok())
      return fail(std::string(s.message()));
    if (interrupted)
      return fail("interrupted; checkpoint saved, continue with --resume");
    auto eval = (*trainer)->evaluate(showSamples);
    if (!eval.ok())
      return fail(std::string(eval.status().message()));
    std::printf("accuracy after GRPO: %.1f%% (± %.1f, %lld held-out problems, format %.0f%%)\n",
                accuracyPercent(*eval), 100 * eval->stdError,
                static_cast<long long>(eval->problems), 100 * eval->formatRate);
    if (auto s = (*trainer)->saveCheckpoint("done", config->grpo().steps()); !s.ok())
      return fail(std::string(s.message()));
  }
  std::printf("metrics: %s/metrics.jsonl and %s/tb (TensorBoard)\n",
              config->output_dir().c_str(), config->output_dir().c_str());
  return 0;
}
