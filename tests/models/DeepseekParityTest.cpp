//===- DeepseekParityTest.cpp - Kiln's DeepSeek-V3 against transformers
//----===//
//
// Loads the fixture that tests/fixtures/deepseek/make_parity.py made with
// transformers 5.17 (a random 3-layer model: one dense layer, two MoE layers,
// q LoRA, YaRN, interleaved rope) and checks Kiln's logits on its inputs.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/Safetensors.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/HfCheckpoint.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";

TEST(DeepseekParity, LogitsMatchTransformers) {
  auto config = readDeepseekV3Config(kFixtures + "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  auto ref = readSafetensors(kFixtures + "reference.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.status();
  const HostTensor &ids = ref->tensors.at("input_ids");
  const HostTensor &want = ref->tensors.at("logits");
  int64_t batch = ids.dim(0), seq = ids.dim(1);

  Graph graph("deepseek_parity");
  DeepseekV3Model model(graph, *config, DType::f32);
  Function &fn = graph.function("logits");
  Tensor input = fn.input("input_ids", {batch, seq}, DType::i64);
  fn.output("logits", model.logits(fn, input));
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  ASSERT_TRUE(loadHfCheckpoint(**executor, *config, kFixtures).ok());

  auto results = (*executor)->run("logits", {ids});
  ASSERT_TRUE(results.ok()) << results.status();
  const HostTensor &got = (*results)[0];
  ASSERT_EQ(got.shape(), want.shape());
  std::vector<double> g = got.toDoubles(), w = want.toDoubles();
  double maxDiff = 0, maxRef = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    maxDiff = std::max(maxDiff, std::abs(g[i] - w[i]));
    maxRef = std::max(maxRef, std::abs(w[i]));
  }
  std::printf("DeepSeek-V3 parity over %zu logits: max|d| = %.3g, max|ref| = "
              "%.3g, ratio = %.3g\n",
              g.size(), maxDiff, maxRef, maxDiff / maxRef);
  EXPECT_LE(maxDiff / maxRef, 1e-4);

  // The fixture exercises the correction bias: it must change which experts
  // are chosen (and so the logits) while never weighting them.
  HostTensor zeros(proto::F32, {config->nRoutedExperts});
  for (int64_t layer = config->firstKDenseReplace;
       layer < config->numHiddenLayers; ++layer)
    ASSERT_TRUE((*executor)
                    ->setState("model.layers." + std::to_string(layer) +
                                   ".mlp.gate.e_score_correction_bias",
                               zeros)
                    .ok());
  auto unbiased = (*executor)->run("logits", {ids});
  ASSERT_TRUE(unbiased.ok()) << unbiased.status();
  std::vector<double> u = (*unbiased)[0].toDoubles();
  double moved = 0;
  for (size_t i = 0; i < u.size(); ++i)
    moved = std::max(moved, std::abs(u[i] - w[i]));
  EXPECT_GT(moved / maxRef, 1e-3);
}

} // namespace
} // namespace kiln::models
