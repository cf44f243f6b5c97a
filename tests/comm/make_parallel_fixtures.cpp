//===- make_parallel_fixtures.cpp - Executables for the MPI tests ---------===//
//
// Compiles, once and before mpirun starts any rank, the training steps the
// multi-rank tests compare: each for one process over the global batch and
// for two data-parallel ranks over half of it each. With TRAIN_CONFIG,
// instead, kiln-train's entries for that configuration, for one and for two
// ranks (and two with ZeRO-1), into the bundle OUTPUT_DIR/train_bundle (host
// target), as `kiln-train --export-bundle [--data-parallel=2 [--zero=1]]`
// would. The ZeRO-1 steps are compiled alongside the all_reduce ones.
//
//   make_parallel_fixtures OUTPUT_DIR [TRAIN_CONFIG]
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <filesystem>
#include <string>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekMoe.h"
#include "models/mlp/MlpModel.h"
#include "models/train/ReasonerCompile.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/TrainConfig.h"

namespace {

int fail(const std::string &what, const absl::Status &status) {
  std::fprintf(stderr, "make_parallel_fixtures: %s: %s\n", what.c_str(),
               std::string(status.message()).c_str());
  return 1;
}

/// The MLP train step for `ranks` data-parallel ranks sharing a global batch
/// of 16, into DIR/mlp_step_<ranks>.pb; with `zero` 1 the optimizer state is
/// sharded over the ranks (ZeRO-1), into DIR/mlp_step_zero_<ranks>.pb.
int writeMlp(const std::string &dir, int64_t ranks, int64_t zero = 0) {
  kiln::models::MlpConfig config;
  config.batch = 16 / ranks;
  kiln::Graph graph = kiln::models::buildMlpTrainGraph(config);
  auto module = graph.build();
  if (!module.ok())
    return fail("building the MLP", module.status());
  kiln::codegen::CompileOptions options;
  options.dataParallel = ranks;
  options.zero = zero;
  auto exe = kiln::codegen::compile(*module, options);
  if (!exe.ok())
    return fail("compiling the MLP", exe.status());
  std::string path = dir + (zero ? "/mlp_step_zero_" : "/mlp_step_") +
                     std::to_string(ranks) + ".pb";
  if (auto s = kiln::writeExecutable(*exe, path, /*text=*/false); !s.ok())
    return fail(path, s);
  return 0;
}

/// kiln-train's entries for `make demo`'s policy (the default
/// configuration), compiled for `ranks` data-parallel ranks sharing the SFT
/// batch, into DIR/reasoner_<ranks>.pb (DIR/reasoner_zero_<ranks>.pb with the
/// optimizer state sharded, `zero` 1; DIR/reasoner_buckets_<ranks>.pb with
/// gradient buckets of `bucketBytes`); the tests run its sft_step.
int writeReasoner(const std::string &dir, int64_t ranks, int64_t zero = 0,
                  int64_t bucketBytes = 0) {
  auto config = kiln::train::parseTrainConfig("", "defaults");
  if (!config.ok())
    return fail("the default training configuration", config.status());
  auto shapes = kiln::train::reasonerShapes(*config);
  if (!shapes.ok())
    return fail("the reasoner's shapes", shapes.status());
  if (shapes->sftBatch % ranks != 0)
    return fail("the reasoner's shapes",
                absl::InvalidArgumentError("the SFT batch does not split"));
  shapes->sftBatch /= ranks;
  shapes->dataParallel = ranks;
  shapes->zero = zero;
  auto exe = kiln::train::compileReasoner(*config, *shapes, "host", "",
                                          bucketBytes);
  if (!exe.ok())
    return fail("compiling the reasoner", exe.status());
  std::string path = dir +
                     (zero          ? "/reasoner_zero_"
                      : bucketBytes ? "/reasoner_buckets_"
                                    : "/reasoner_") +
                     std::to_string(ranks) + ".pb";
  if (auto s = kiln::writeExecutable(*exe, path, /*text=*/false); !s.ok())
    return fail(path, s);
  return 0;
}

/// One DeepSeek MoE layer (4 routed experts, top-2, one shared expert, f32)
/// over `batch` sequences of 6 tokens. Entry "layer": x [batch, 6, 16] ->
/// y, and the gradients of 0.5 * sum(y^2) with respect to x and the three
/// stacked expert weights. With `ranks` > 1 the experts are sharded over
/// the ranks (kiln-expert-parallel), each rank bringing its own tokens.
int writeMoeLayer(const std::string &dir, int64_t batch, int64_t ranks) {
  kiln::models::DeepseekV3Config config;
  config.hiddenSize = 16;
  config.moeIntermediateSize = 8;
  config.nRoutedExperts = 4;
  config.numExpertsPerTok = 2;
  config.nSharedExperts = 1;
  config.nGroup = 1;
  config.topkGroup = 1;
  kiln::Graph graph("moe_layer");
  kiln::models::MoeLayer layer(graph, config, "mlp", kiln::DType::f32, 3);
  for (const kiln::State &s : layer.expertStates())
    graph.shardOverExperts(s);
  kiln::Function &f = graph.function("layer");
  kiln::Tensor x = f.input("x", {batch, 6, 16}, kiln::DType::f32);
  kiln::Tensor y = layer(f, x);
  kiln::Tensor loss = kiln::sum(y * y, {0, 1, 2}) * 0.5;
  std::vector<kiln::Tensor> wrt = {x};
  for (const kiln::State &s : layer.expertStates())
    wrt.push_back(f.read(s));
  std::vector<kiln::Tensor> grads = kiln::grad(loss, wrt);
  f.output("y", y);
  const char *names[] = {"dx", "d_gate_proj", "d_up_proj", "d_down_proj"};
  for (size_t i = 0; i < grads.size(); ++i)
    f.output(names[i], grads[i]);
  auto module = graph.build();
  if (!module.ok())
    return fail("building the MoE layer", module.status());
  kiln::codegen::CompileOptions options;
  options.expertParallel = ranks;
  auto exe = kiln::codegen::compile(*module, options);
  if (!exe.ok())
    return fail("compiling the MoE layer", exe.status());
  std::string path = dir + "/moe_layer_" + std::to_string(ranks) + ".pb";
  if (auto s = kiln::writeExecutable(*exe, path, /*text=*/false); !s.ok())
    return fail(path, s);
  return 0;
}

/// kiln-train's bundle for the configuration in `configPath` and `ranks`
/// data-parallel ranks (with `zero` 1, the optimizer state sharded over
/// them; with `experts`, the MoE experts), in DIR/train_bundle.
int writeTrainBundle(const std::string &dir, const std::string &configPath,
                     int64_t ranks, int64_t zero = 0, bool experts = false) {
  auto config = kiln::train::loadTrainConfig(configPath);
  if (!config.ok())
    return fail(configPath, config.status());
  if (experts)
    config->set_expert_parallel(ranks);
  auto global = kiln::train::reasonerShapes(*config);
  if (!global.ok())
    return fail("kiln-train's shapes", global.status());
  auto shapes = kiln::train::dataParallelShapes(*config, *global, ranks);
  if (!shapes.ok())
    return fail("kiln-train's shapes", shapes.status());
  shapes->zero = zero;
  auto keys = kiln::train::exportReasonerBundle(
      *config, *shapes, dir + "/train_bundle", {"host"});
  if (!keys.ok())
    return fail("kiln-train's bundle", keys.status());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr,
                 "usage: make_parallel_fixtures OUTPUT_DIR [TRAIN_CONFIG]\n");
    return 2;
  }
  std::string dir = argv[1];
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "make_parallel_fixtures: cannot create %s: %s\n",
                 dir.c_str(), ec.message().c_str());
    return 1;
  }
  if (argc == 3) {
    for (int64_t ranks : {1, 2})
      if (int rc = writeTrainBundle(dir, argv[2], ranks); rc != 0)
        return rc;
    if (int rc = writeTrainBundle(dir, argv[2], 2, /*zero=*/1); rc != 0)
      return rc;
    return writeTrainBundle(dir, argv[2], 2, /*zero=*/0, /*experts=*/true);
  }
  for (int64_t ranks : {1, 2})
    if (int rc = writeMlp(dir, ranks); rc != 0)
      return rc;
  for (int64_t ranks : {1, 2})
    if (int rc = writeReasoner(dir, ranks); rc != 0)
      return rc;
  // ZeRO-1 over two ranks, against the same one-process steps.
  if (int rc = writeMlp(dir, 2, /*zero=*/1); rc != 0)
    return rc;
  if (int rc = writeReasoner(dir, 2, /*zero=*/1); rc != 0)
    return rc;
  // Gradients in 16 KiB buckets: several all_reduces during the backward.
  if (int rc = writeReasoner(dir, 2, /*zero=*/0, /*bucketBytes=*/16 << 10);
      rc != 0)
    return rc;
  // One process over both ranks' tokens, and two expert-parallel ranks.
  if (int rc = writeMoeLayer(dir, 2, 1); rc != 0)
    return rc;
  if (int rc = writeMoeLayer(dir, 1, 2); rc != 0)
    return rc;
  return 0;
}
