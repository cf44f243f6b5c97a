//===- kiln-train.cpp - train a reasoning model: SFT cold start, then GRPO
//-===//
//
// Reads a textproto TrainConfig (models/train/train_config.proto documents
// every field) plus --set overrides, compiles the policy's entries for the
// device (or loads them from a bundle), and runs the supervised cold start and
// GRPO with rule-based rewards on the CPU or CUDA executor, printing the
// held-out accuracy after each phase. Ctrl-C checkpoints before exiting.
// --export-bundle writes the host and ptx Executables into a bundle instead of
// training.
//
// Under `mpirun -np N` every rank runs this program, data-parallel: the
// entries are compiled for N ranks and each steps on its share of every
// batch (models/train/TrainRanks.h).
//
// Built twice: kiln-train, with the compiler, and kiln-train-rt
// (KILN_TRAIN_RUNTIME_ONLY), statically linked and without MLIR, which only
// loads bundles: the binary carried to a GPU machine.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/Checkpoint.h"
#include "executor/comm/Launcher.h"
#include "models/train/ReasonerBundle.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/TrainConfig.h"
#include "models/train/TrainDevice.h"
#include "models/train/Trainer.h"
#include "models/train/ZeroState.h"
#include "tools/FlagParsing.h"
#ifndef KILN_TRAIN_RUNTIME_ONLY
#include "executor/comm/World.h"
#include "models/train/ReasonerCompile.h"
#endif

using namespace kiln;

static std::atomic<bool> interrupted{false};

#ifdef KILN_TRAIN_RUNTIME_ONLY
static const char *kProgram = "kiln-train-rt";
#else
static const char *kProgram = "kiln-train";
#endif

static const char *kUsage =
    R"(kiln-train: train a small MoE reasoning model (SFT cold start, then GRPO)
kiln-train-rt: the same without the compiler, for machines without MLIR (needs --bundle)

usage: kiln-train [--config=FILE] [--set=TEXTPROTO]... [--mode=sft|grpo|sft+grpo]
                  [--device=cpu|cuda] [--precision=bf16|fp8|fp8-delayed] [--output-dir=DIR] [--resume]
                  [--bundle=DIR | --export-bundle=DIR [--data-parallel=N]] [--zero=1]
                  [--expert-parallel=N]
       mpirun -np N kiln-train ...   (data-parallel on N CPU ranks)

  --config=FILE     a kiln.train.TrainConfig in protobuf text format
                    (models/train/train_config.proto documents every field)
  --set=TEXTPROTO   a fragment merged over the file, e.g. --set='grpo { beta: 0.04 }';
                    may be repeated, applied in order
  --mode=MODE       shorthand for --set='mode: "MODE"'
  --device=DEVICE   cpu (the default: host Executables on the CPU executor) or cuda
                    (ptx Executables on CUDA device 0; CUDA_VISIBLE_DEVICES picks another)
  --precision=P     bf16 (the default: the model's types), fp8 (weight GEMMs and
                    their gradients' GEMMs in block-scaled E4M3, DeepSeek-V3's recipe)
                    or fp8-delayed (the same GEMMs, per-tensor scales from a 16-step
                    amax history, Transformer Engine's delayed scaling)
  --output-dir=DIR  metrics.jsonl, TensorBoard events (tb/) and checkpoints
  --resume          continue from DIR/checkpoint.safetensors
  --show-samples=N  print N held-out completions at each evaluation
  --bundle=DIR      load the compiled entries from the bundle in DIR instead of
                    compiling (the only way for kiln-train-rt, which has no compiler)
  --export-bundle=DIR
                    compile the entries for host and ptx, add both to the bundle in
                    DIR, print their keys and exit without training (kiln-train only)
  --dump-ir=DIR     write the IR before the pipeline and after every pass into DIR
                    (DIR/host and DIR/ptx with --export-bundle; kiln-train only)
  --data-parallel=N with --export-bundle: compile the entries for N data-parallel
                    ranks (training takes N from mpirun)
  --zero=1          ZeRO-1 over the data-parallel ranks: each keeps 1/N of the
                    AdamW moments (kiln-shard-optimizer-state); with mpirun -np N,
                    or with --export-bundle --data-parallel=N (then train with
                    --zero=1 --bundle too). Checkpoints hold whole tensors.
  --expert-parallel=N
                    shorthand for --set='expert_parallel: N': the MoE experts
                    (and their AdamW moments) sharded over the N data-parallel
                    ranks (mpirun -np N, or --export-bundle --data-parallel=N),
                    each keeping n_routed_experts / N; SFT and GRPO on CPU
                    ranks (their rollouts and evaluations decode in step),
                    without --zero=1. Checkpoints hold whole tensors.
  --help            this text

Under mpirun -np N each rank runs one data-parallel replica: the world size must
divide sft.batch_size and grpo.prompts_per_step; rank 0 writes the metrics and
the checkpoint, which resumes on any number of ranks. With --device=cuda the
ranks are GPUs (each its node-local rank's) joined by NCCL: started by mpirun
(kiln-train), or by torchrun --no-python / RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR (kiln-train and kiln-train-rt, which links no MPI).

The bundle key of a configuration: model_hash = FNV-1a of every model field, the
GRPO objective fields the graph bakes in and the shapes (models/train/ReasonerBundle.h);
entry = "reasoner"; bucket = s<seq>_p<prompt>_b<sft batch>_g<grpo rows>; target =
host or ptx; compiler_version = this build's.
)";

/// "rank R of N" in errors when several ranks print them.
static std::string rankTag;

static int fail(const std::string &message) {
  std::fprintf(stderr, "%s%s: error: %s\n", kProgram, rankTag.c_str(),
               message.c_str());
  return 1;
}

/// `arg` as one shell word.
static std::string shellQuote(const std::string &arg) {
  if (arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_=./:+,@") == std::string::npos)
    return arg;
  std::string quoted = "'";
  for (char c : arg)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

static double accuracyPercent(const train::EvalResult &e) { return 100.0 * e.accuracy; }

/// "pass@1 31.2%  pass@8 55.0%" when the evaluation sampled several
/// completions per problem.
static void printPassAtK(const train::EvalResult &e) {
  if (e.passAtK.empty())
    return;
  std::string line;
  for (const auto &[k, value] : e.passAtK)
    line += absl::StrFormat("%spass@%lld %.1f%%", line.empty() ? "" : "  ",
                            static_cast<long long>(k), 100 * value);
  std::printf("  %s\n", line.c_str());
}

/// "accuracy after SFT: 31.2% (± 1.4, 500 held-out problems, format 98%)",
/// then pass@k where sampled.
static void printAccuracy(const char *stage, const train::EvalResult &e) {
  std::printf("accuracy after %s: %.1f%% (± %.1f, %lld held-out problems, "
              "format %.0f%%)\n",
              stage, accuracyPercent(e), 100 * e.stdError,
              static_cast<long long>(e.problems), 100 * e.formatRate);
  printPassAtK(e);
}

/// Ctrl-C: the first asks the loops to checkpoint and stop at the next step
/// (or decode step of an evaluation); a second exits at once.
static void onInterrupt(int) {
  if (interrupted.exchange(true)) {
    static const char kMessage[] =
        "\ninterrupted twice: exiting without a checkpoint\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(130);
  }
}

static int run(int argc, char **argv) {
  std::string configPath;
  std::vector<std::string> overrides;
  train::FlagValues flagValues;
  bool resume = false;
  int64_t showSamples = 0;
  int64_t exportRanks = 0;
  int64_t zero = 0;
  int64_t expertParallel = 0;
  std::string bundleDir, exportDir, dumpIrDir;
  // The flags that shape the configuration, for the command that fills a bundle.
  std::vector<std::string> configArgs;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char *flag) { return tools::flagValue(arg, flag); };
    if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (auto v = value("--config")) {
      configPath = *v;
      configArgs.push_back(arg);
    } else if (auto v = value("--set")) {
      overrides.push_back(*v);
      configArgs.push_back(arg);
    } else if (auto v = value("--mode")) {
      flagValues.mode = *v;
      configArgs.push_back(arg);
    } else if (auto v = value("--bundle")) {
      bundleDir = *v;
    } else if (auto v = value("--export-bundle")) {
      exportDir = *v;
    } else if (auto v = value("--dump-ir")) {
      dumpIrDir = *v;
    } else if (auto v = value("--device")) {
      flagValues.device = *v;
    } else if (auto v = value("--precision")) {
      flagValues.precision = *v;
    } else if (auto v = value("--output-dir")) {
      flagValues.outputDir = *v;
    } else if (auto v = value("--show-samples")) {
      char *end = nullptr;
      showSamples = std::strtoll(v->c_str(), &end, 10);
      if (*end || showSamples < 0)
        return fail("--show-samples needs a non-negative integer, got '" + *v + "'");
    } else if (auto v = value("--data-parallel")) {
      char *end = nullptr;
      exportRanks = std::strtoll(v->c_str(), &end, 10);
      if (*end || exportRanks < 1)
        return fail("--data-parallel needs a positive rank count, got '" + *v +
                    "'");
    } else if (auto v = value("--zero")) {
      if (*v != "0" && *v != "1")
        return fail("--zero must be 0 or 1 (ZeRO stage 1 shards the "
                    "optimizer state), got '" +
                    *v + "'");
      zero = *v == "1" ? 1 : 0;
    } else if (auto v = value("--expert-parallel")) {
      char *end = nullptr;
      expertParallel = std::strtoll(v->c_str(), &end, 10);
      if (*end || expertParallel < 1)
        return fail("--expert-parallel needs a positive rank count, got '" +
                    *v + "'");
      configArgs.push_back(arg);
    } else if (arg == "--resume") {
      resume = true;
    } else {
      return fail("unknown argument '" + arg + "' (see --help)");
    }
  }
  if (!bundleDir.empty() && !exportDir.empty())
    return fail("--bundle reads a bundle and --export-bundle writes one; pass only one");
  if (!bundleDir.empty() && !dumpIrDir.empty())
    return fail("--dump-ir shows a compile, but --bundle loads compiled entries");
#ifdef KILN_TRAIN_RUNTIME_ONLY
  if (bundleDir.empty() && exportDir.empty())
    return fail("kiln-train-rt has no compiler: pass --bundle=DIR, a bundle written by "
                "kiln-train --export-bundle=DIR with the same --config/--set flags");
#endif
  auto config =
      configPath.empty()
          ? train::parseTrainConfig("", "defaults", overrides, flagValues)
          : train::loadTrainConfig(configPath, overrides, flagValues);
  if (!config.ok())
    return fail(std::string(config.status().message()));
  if (expertParallel > 0)
    config->set_expert_parallel(expertParallel);
  if (config->expert_parallel() > 1 && config->device() != "cpu")
    return fail("expert_parallel (--expert-parallel) is built for CPU ranks "
                "under mpirun (device \"cpu\"); GPU ranks train data-parallel");
  if (exportRanks > 0 && exportDir.empty())
    return fail("--data-parallel compiles a bundle for that many ranks (with "
                "--export-bundle); training takes the rank count from mpirun");

  // The ranks this process trains with: CPU ranks under mpirun, GPU ranks
  // under mpirun or torchrun (NCCL), or one process. `world` carries the
  // training loop's host exchanges, `deviceWorld` the executor's collectives.
  std::shared_ptr<Communicator> world, deviceWorld;
  int deviceOrdinal = 0;
  if (exportDir.empty()) {
    const Launcher launcher = detectLauncher();
    const bool gpu = config->device() == "cuda";
    std::shared_ptr<Communicator> mpiWorld;
#ifdef KILN_TRAIN_RUNTIME_ONLY
    if (launcher == Launcher::Mpi)
      return fail("kiln-train-rt links no MPI: start GPU ranks with torchrun "
                  "--no-python (or RANK, WORLD_SIZE, LOCAL_RANK and "
                  "MASTER_ADDR), and CPU ranks with kiln-train under mpirun");
    if (launcher == Launcher::Env && !gpu)
      return fail("CPU ranks start with mpirun (kiln-train, which links "
                  "MPI); torchrun's variables start GPU ranks (device "
                  "\"cuda\")");
#else
    if (launcher == Launcher::Env && !gpu)
      return fail("CPU ranks start with mpirun -np N; torchrun's variables "
                  "start GPU ranks (device \"cuda\")");
    if (launcher != Launcher::Env) {
      auto joined = joinHostWorld();
      if (!joined.ok())
        return fail(std::string(joined.status().message()));
      mpiWorld = *joined;
      if (mpiWorld->size() > 1)
        rankTag = absl::StrFormat(" (rank %d of %d)", mpiWorld->rank(),
                                  mpiWorld->size());
    }
#endif
    auto joined = train::joinTrainWorld(config->device(), mpiWorld);
    if (!joined.ok())
      return fail(std::string(joined.status().message()));
    world = joined->host;
    deviceWorld = joined->device;
    deviceOrdinal = joined->deviceOrdinal;
    if (world->size() > 1)
      rankTag =
          absl::StrFormat(" (rank %d of %d)", world->rank(), world->size());
  }
  const int64_t ranks =
      world ? world->size() : std::max<int64_t>(exportRanks, 1);
  const bool leader = !world || world->rank() == 0;
  auto global = train::reasonerShapes(*config);
  if (!global.ok())
    return fail(std::string(global.status().message()));
  auto shapes = train::dataParallelShapes(*config, *global, ranks);
  if (!shapes.ok())
    return fail(std::string(shapes.status().message()));
  if (zero == 1 && ranks < 2)
    return fail("--zero=1 shards the optimizer state over data-parallel "
                "ranks: train under mpirun -np N (or export with "
                "--data-parallel=N) with N > 1");
  if (zero == 1 && config->device() != "cpu")
    return fail("--zero=1 is built for CPU ranks under mpirun (device "
                "\"cpu\")");
  if (zero == 1 && config->expert_parallel() > 1)
    return fail("--zero=1 with expert_parallel (--expert-parallel) " +
                std::to_string(config->expert_parallel()) +
                " is not supported yet: ZeRO-1 would cut the expert shards' "
                "moments again; use one of them");
  shapes->zero = zero;
  const int64_t seqLen = shapes->seqLen, promptLen = shapes->promptLen;

  auto start = std::chrono::steady_clock::now();
  if (!exportDir.empty()) {
#ifdef KILN_TRAIN_RUNTIME_ONLY
    return fail("kiln-train-rt has no compiler: run kiln-train --export-bundle=" + exportDir +
                " on a machine with the compiler and carry the bundle here");
#else
    // ZeRO-1 and expert parallelism run on CPU ranks only.
    std::vector<std::string> targets = {"host", "ptx"};
    if (zero == 1 || config->expert_parallel() > 1)
      targets = {"host"};
    auto keys = train::exportReasonerBundle(*config, *shapes, exportDir,
                                            targets, dumpIrDir);
    if (!keys.ok())
      return fail(std::string(keys.status().message()));
    std::printf(
        "compiled the policy's entries for %s in %.1f s\n",
        absl::StrJoin(targets, " and ").c_str(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    for (const BundleKey &key : *keys)
      std::printf("%s/%s: %s\n", exportDir.c_str(), bundleFileName(key).c_str(),
                  bundleKeyString(key).c_str());
    return 0;
#endif
  }

  // Fail on a missing GPU now, not after minutes of compiling.
  const std::string &device = config->device();
  if (auto s = train::checkDevice(device); !s.ok())
    return fail(std::string(s.message()));
  std::string target = *train::targetForDevice(device);
  absl::StatusOr<proto::Executable> exe;
  if (!bundleDir.empty()) {
    std::vector<std::string> fill{"kiln-train"};
    for (const std::string &a : configArgs)
      fill.push_back(shellQuote(a));
    fill.push_back(shellQuote("--export-bundle=" + bundleDir));
    if (ranks > 1)
      fill.push_back(absl::StrCat("--data-parallel=", ranks));
    if (zero == 1)
      fill.push_back("--zero=1");
    exe = train::loadReasonerExecutable(bundleDir, *config, *shapes, target,
                                        absl::StrJoin(fill, " "));
  } else {
#ifndef KILN_TRAIN_RUNTIME_ONLY
    exe = train::compileReasoner(*config, *shapes, target, dumpIrDir);
#endif
  }
  if (!exe.ok())
    return fail(std::string(exe.status().message()));
  // Ranks on one node share its cores.
  int threads = 0;
  if (ranks > 1)
    threads =
        std::max<int>(1, static_cast<int>(std::thread::hardware_concurrency()) /
                             localWorldSize());
  auto executor = train::openExecutor(device, *std::move(exe), deviceWorld,
                                      threads, deviceOrdinal);
  if (!executor.ok())
    return fail(std::string(executor.status().message()));
  if (leader)
    std::printf(
        "%s the policy's entries in %.1f s (sequence length %lld) for %s%s\n",
        bundleDir.empty() ? "compiled" : "loaded",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count(),
        static_cast<long long>(seqLen),
        (*executor)->deviceDescription().c_str(),
        ranks > 1 ? absl::StrFormat(", %lld data-parallel ranks",
                                    static_cast<long long>(ranks))
                        .c_str()
                  : "");

  // Under ZeRO-1 the host loops and checkpoints see the optimizer state
  // whole through the view; each rank's executor keeps its blocks.
  EntryRunner *runner = executor->get();
  // So do the experts under expert parallelism, with their moments.
  std::unique_ptr<train::ZeroStateView> zeroView;
  if (zero == 1 || shapes->expertParallel > 1) {
    std::vector<std::string> experts;
    if (shapes->expertParallel > 1)
      for (const proto::StateEntry &e : (*executor)->executable().state())
        if (e.kind() == "parameter" && train::isStackedExpert(e.name()))
          experts.push_back(e.name());
    auto view = train::ZeroStateView::create(**executor, world, experts);
    if (!view.ok())
      return fail(std::string(view.status().message()));
    zeroView = std::move(*view);
    runner = zeroView.get();
    if (leader && zero == 1)
      std::printf("ZeRO-1: optimizer state %.2f MiB on this rank (%.2f MiB "
                  "whole)\n",
                  zeroView->shardBytes() / 1048576.0,
                  zeroView->wholeBytes() / 1048576.0);
    // Every rank reports its own share (each holds other experts).
    if (shapes->expertParallel > 1)
      std::printf("expert parallel%s: expert parameters %lld bytes on this "
                  "rank of %lld, optimizer state %lld bytes of %lld\n",
                  rankTag.c_str(),
                  static_cast<long long>(zeroView->expertShardBytes()),
                  static_cast<long long>(zeroView->expertWholeBytes()),
                  static_cast<long long>(zeroView->shardBytes()),
                  static_cast<long long>(zeroView->wholeBytes()));
  }
  auto trainer = train::Trainer::create(*config, *runner, seqLen, promptLen,
                                        train::TrainRanks(world));
  if (!trainer.ok())
    return fail(std::string(trainer.status().message()));
  std::signal(SIGINT, onInterrupt);
  (*trainer)->setStopFlag(&interrupted);
  bool tty = isatty(fileno(stdout));
  // Rates count from the first reported step of a phase, so step 1 has none yet.
  auto phaseStart = std::chrono::steady_clock::now();
  std::string currentPhase;
  int64_t firstReported = 0;
  (*trainer)->setProgress([&](const std::string &phase, int64_t step,
                              int64_t total, const std::string &summary) {
    if (!leader)
      return; // every rank has the same progress; rank 0 reports it
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
    std::string path = config->output_dir() + "/checkpoint.safetensors";
    auto metadata = train::loadTrainerCheckpoint(*runner, path);
    if (!metadata.ok())
      return fail(std::string(metadata.status().message()));
    auto point = train::parseResumePoint(*metadata, path, *config);
    if (!point.ok())
      return fail(std::string(point.status().message()));
    phase = point->phase;
    firstStep = point->step;
    (*trainer)->resumeFrom(*point);
    if (leader)
      std::printf("resumed %s at step %lld\n", phase.c_str(),
                  static_cast<long long>(firstStep));
  }

  const std::string &mode = config->mode();
  bool doSft = mode != "grpo" && phase == "sft";
  bool doGrpo = mode != "sft";
  // A Ctrl-C during an evaluation: the phase's training is done and saved.
  auto stoppedInEval = [&](const absl::Status &s) {
    return absl::IsCancelled(s) && interrupted.load();
  };
  if (doSft) {
    if (auto s = (*trainer)->runSft(firstStep); !s.ok())
      return fail(std::string(s.message()));
    firstStep = 0;
    if (interrupted)
      return fail("interrupted; checkpoint saved, continue with --resume");
  }
  if (doSft) {
    auto eval = (*trainer)->evaluate(showSamples);
    if (stoppedInEval(eval.status())) {
      if (auto s = (*trainer)->saveCheckpoint("grpo", 0); !s.ok())
        return fail(std::string(s.message()));
      return fail("interrupted during evaluation; checkpoint saved, continue "
                  "with --resume");
    }
    if (!eval.ok())
      return fail(std::string(eval.status().message()));
    if (leader)
      printAccuracy("SFT", *eval);
    if (auto s = (*trainer)->saveCheckpoint("grpo", 0); !s.ok())
      return fail(std::string(s.message()));
    if (auto s = (*trainer)->logEvaluation(*eval); !s.ok())
      return fail(std::string(s.message()));
  }
  if (doGrpo) {
    if (auto s = (*trainer)->runGrpo(firstStep); !s.ok())
      return fail(std::string(s.message()));
    if (interrupted)
      return fail("interrupted; checkpoint saved, continue with --resume");
    auto eval = (*trainer)->evaluate(showSamples);
    if (stoppedInEval(eval.status())) {
      if (auto s = (*trainer)->saveCheckpoint("done", config->grpo().steps());
          !s.ok())
        return fail(std::string(s.message()));
      return fail("interrupted during evaluation; training is done and saved");
    }
    if (!eval.ok())
      return fail(std::string(eval.status().message()));
    if (leader)
      printAccuracy("GRPO", *eval);
    if (auto s = (*trainer)->saveCheckpoint("done", config->grpo().steps()); !s.ok())
      return fail(std::string(s.message()));
    if (auto s = (*trainer)->logEvaluation(*eval); !s.ok())
      return fail(std::string(s.message()));
  }
  if (leader)
    std::printf("metrics: %s/metrics.jsonl and %s/tb (TensorBoard)\n",
                config->output_dir().c_str(), config->output_dir().c_str());
  return 0;
}

int main(int argc, char **argv) {
  // Every error is a message and a non-zero exit, never an abort: an
  // allocation beyond memory or a library's exception included.
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    return fail(
        "out of memory (the configuration needs more than this machine has)");
  } catch (const std::exception &e) {
    return fail(std::string("internal error: ") + e.what());
  }
}
