//===- deepseek_resave.cpp - load a DeepSeek-V3 checkpoint into Kiln and save it -===//
//
// Reads a Hugging Face DeepseekV3 checkpoint (config.json + safetensors, sharded
// or not) into Kiln's state, runs the forward once on token ids 0..S-1 to show
// the weights are live, and writes Kiln's state back in Hugging Face layout, so
// a checkpoint can travel transformers -> Kiln -> transformers.
// usage: kiln-deepseek-resave IN_DIR OUT_DIR [MAX_SHARD_BYTES]
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstdlib>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/HfCheckpoint.h"

using namespace kiln;
using namespace kiln::models;

static int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-deepseek-resave: error: %s\n", message.c_str());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4)
    return fail("usage: kiln-deepseek-resave IN_DIR OUT_DIR [MAX_SHARD_BYTES]");
  std::string in = argv[1], out = argv[2];
  int64_t maxShard = int64_t{5} << 30;
  if (argc == 4) {
    char *end = nullptr;
    maxShard = std::strtoll(argv[3], &end, 10);
    if (*end || maxShard < 1)
      return fail(std::string("MAX_SHARD_BYTES must be a positive integer, got '") + argv[3] + "'");
  }
  auto config = readDeepseekV3Config(in + "/config.json");
  if (!config.ok())
    return fail(std::string(config.status().message()));
  const int64_t seq = 8;
  Graph graph("deepseek");
  DeepseekV3Model model(graph, *config, DType::f32);
  Function &fn = graph.function("logits");
  fn.output("logits", model.logits(fn, fn.input("input_ids", {1, seq}, DType::i64)));
  auto module = graph.build();
  if (!module.ok())
    return fail(std::string(module.status().message()));
  auto exe = codegen::compile(*module);
  if (!exe.ok())
    return fail(std::string(exe.status().message()));
  auto executor = Executor::create(*exe);
  if (!executor.ok())
    return fail(std::string(executor.status().message()));
  if (auto s = loadHfCheckpoint(**executor, *config, in); !s.ok())
    return fail(std::string(s.message()));
  HostTensor ids(proto::I64, {1, seq});
  for (int64_t i = 0; i < seq; ++i)
    ids.data<int64_t>()[i] = i % config->vocabSize;
  auto logits = (*executor)->run("logits", {ids});
  if (!logits.ok())
    return fail(std::string(logits.status().message()));
  std::printf("loaded %s; logits[0, 0, 0] = %.6f\n", in.c_str(), (*logits)[0].toDoubles()[0]);
  if (auto s = saveHfCheckpoint(**executor, *config, out, maxShard); !s.ok())
    return fail(std::string(s.message()));
  std::printf("saved %s\n", out.c_str());
  return 0;
}
