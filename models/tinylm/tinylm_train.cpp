//===- tinylm_train.cpp - train the tiny transformer LM on the CPU ---------===//
//
// Compiles the tiny LM's train step (forward, backward, clipping, schedule and
// AdamW in one Executable), trains it on the counting task, prints the loss curve
// and saves a safetensors checkpoint. Usage: kiln-tinylm-train [steps] [ckpt].
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/Executor.h"
#include "models/tinylm/TinyLmTrain.h"

using namespace kiln;

static std::vector<HostTensor> batch(const models::TinyLmConfig &c, uint64_t seed) {
  models::TokenBatch b = models::countingBatch(c, seed);
  HostTensor tokens(proto::I64, {c.batch, c.seqLen}), targets(proto::I64, {c.batch, c.seqLen});
  std::memcpy(tokens.data(), b.tokens.data(), tokens.byteSize());
  std::memcpy(targets.data(), b.targets.data(), targets.byteSize());
  return {tokens, targets};
}

static int fail(const absl::Status &status) {
  std::fprintf(stderr, "kiln-tinylm-train: error: %s\n", std::string(status.message()).c_str());
  return 1;
}

int main(int argc, char **argv) {
  models::TinyLmTrainOptions options;
  if (argc > 1) {
    char *end = nullptr;
    long steps = std::strtol(argv[1], &end, 10);
    if (*end || steps < 1 || steps > 1000000) {
      std::fprintf(stderr, "kiln-tinylm-train: error: steps must be a positive "
                           "integer, got '%s'\n", argv[1]);
      return 1;
    }
    options.totalSteps = steps;
  }
  std::string checkpoint = argc > 2 ? argv[2] : "tinylm.safetensors";

  auto start = std::chrono::steady_clock::now();
  Graph graph = models::buildTinyLmTrainGraph(options);
  auto module = graph.build();
  if (!module.ok())
    return fail(module.status());
  auto exe = codegen::compile(*module);
  if (!exe.ok())
    return fail(exe.status());
  auto executor = Executor::create(*exe);
  if (!executor.ok())
    return fail(executor.status());
  if (auto s = (*executor)->initializeState(); !s.ok())
    return fail(s);
  double compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("compiled the train step in %.2f s (%d steps)\n", compileSeconds,
              exe->entries(0).steps_size());

  const models::TinyLmConfig &c = options.model;
  start = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < options.totalSteps; ++step) {
    auto results = (*executor)->run("train_step", batch(c, 1000 + step));
    if (!results.ok())
      return fail(results.status());
    if (step % 10 == 0 || step + 1 == options.totalSteps)
      std::printf("step %4lld  loss %.4f  grad_norm %.3f  lr %.5f\n",
                  static_cast<long long>(step), (*results)[0].toDoubles()[0],
                  (*results)[1].toDoubles()[0], (*results)[2].toDoubles()[0]);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double tokens = static_cast<double>(options.totalSteps * c.batch * c.seqLen);
  std::printf("trained %lld steps in %.2f s (%.0f tokens/s)\n",
              static_cast<long long>(options.totalSteps), seconds, tokens / seconds);
  auto eval = (*executor)->run("eval_loss", batch(c, 1));
  if (!eval.ok())
    return fail(eval.status());
  std::printf("held-out loss %.4f (uniform guessing: %.4f)\n", (*eval)[0].toDoubles()[0],
              std::log(static_cast<double>(c.vocab)));
  if (auto s = saveCheckpoint(**executor, checkpoint,
                              {{"step", std::to_string(options.totalSteps)}});
      !s.ok())
    return fail(s);
  std::printf("saved %s\n", checkpoint.c_str());
  return 0;
}
