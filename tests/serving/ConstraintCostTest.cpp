//===- ConstraintCostTest.cpp - the logit mask against a decode step ------===//
//
// Issue 18 asks that constrained decoding cost at most 10% of a decode step at
// batch 64. Both sides of that, on the `make demo` model at 64 slots: the
// host's share (advance 64 constrained rows past their tokens and write their
// mask rows into the [64, V] input, what Engine does per step) and the
// graph's (the decode entry with the mask input against one built without
// it). Prints the figures docs/SERVING_CONSTRAINTS.md quotes.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/serve/ServeGraph.h"
#include "models/tokenizer/TextTokenizer.h"
#include "models/train/PolicyConfig.h"
#include "serving/RegexDfa.h"
#include "serving/TokenMasks.h"

#include "gtest/gtest.h"

namespace kiln::serving {
namespace {

namespace names = models::inference;

constexpr int64_t kBatch = 64, kContext = 64, kSteps = 30;

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

/// Median seconds of a decode step of `masked` and of `plain`, their steps
/// interleaved so that the machine's drift falls on both alike.
std::pair<double, double> timeDecodes(const proto::Executable &masked,
                                      const proto::Executable &plain,
                                      int64_t vocab) {
  ExecutorOptions options;
  options.batchInvariant = true; // as kiln-serve runs it
  std::unique_ptr<EntryRunner> runners[2];
  const proto::Executable *exes[2] = {&masked, &plain};
  for (int k = 0; k < 2; ++k) {
    auto runner = Executor::create(*exes[k], options);
    EXPECT_TRUE(runner.ok()) << runner.status();
    if (!runner.ok())
      return {0, 0};
    runners[k] = *std::move(runner);
    EXPECT_TRUE(runners[k]->initializeState().ok());
  }
  std::mt19937 rng(1);
  HostTensor temperature(proto::F32, {kBatch}), topP(proto::F32, {kBatch});
  for (int64_t r = 0; r < kBatch; ++r) {
    temperature.setDouble(r, 1.0);
    topP.setDouble(r, 1.0);
  }
  std::vector<double> times[2];
  for (int64_t step = 0; step < kSteps + 2; ++step) {
    std::vector<int64_t> tokens(kBatch), positions(kBatch), seeds(kBatch),
        index(kBatch, step);
    for (int64_t r = 0; r < kBatch; ++r) {
      tokens[r] = rng() % 256;
      positions[r] = step % kContext;
      seeds[r] = r;
    }
    std::map<std::string, HostTensor> in = {
        {names::kTokens, HostTensor::ofInts(tokens)},
        {names::kPositions, HostTensor::ofInts(positions)},
        {names::kTemperature, temperature},
        {names::kTopK, HostTensor::ofInts(std::vector<int64_t>(kBatch, 0))},
        {names::kTopP, topP},
        {names::kSeed, HostTensor::ofInts(seeds)},
        {names::kStep, HostTensor::ofInts(index)}};
    // Which runs first alternates too: the idle executor's pool threads
    // spin a while after its run, slowing whichever runs next.
    for (int k : step % 2 ? std::vector<int>{1, 0} : std::vector<int>{0, 1}) {
      std::map<std::string, HostTensor> inputs = in;
      if (k == 0)
        inputs[names::kLogitMask] = HostTensor(proto::F32, {kBatch, vocab});
      auto start = std::chrono::steady_clock::now();
      auto out = runners[k]->runNamed(names::kDecode, inputs);
      double t = seconds(start);
      EXPECT_TRUE(out.ok()) << out.status();
      if (step >= 2)
        times[k].push_back(t);
    }
  }
  for (auto &t : times)
    std::sort(t.begin(), t.end());
  return {times[0][kSteps / 2], times[1][kSteps / 2]};
}

TEST(ConstraintCost, MaskIsSmallAgainstADecodeStepAtBatch64) {
  models::DeepseekV3Config config = *train::policyConfig({});
  auto masked = models::compileServeModel(config, {kBatch, kContext, 0}, "host",
                                          /*seed=*/3);
  ASSERT_TRUE(masked.ok()) << masked.status();
  // The same entries without the mask input, for the graph's share.
  Graph graph("serve");
  models::DeepseekV3Model model(graph, config, DType::f32, 3);
  ASSERT_TRUE(
      models::addDeepseekInference(graph, model, {kBatch, kContext, kContext})
          .ok());
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto plain = codegen::compile(*module, {});
  ASSERT_TRUE(plain.ok()) << plain.status();

  int64_t vocab = config.vocabSize;
  auto [withMask, without] = timeDecodes(*masked, *plain, vocab);

  // The host's share: the engine's per-step work for 64 constrained rows
  // (compiled and precomputed as kiln-serve's ConstraintCache does).
  std::unique_ptr<tokenizer::TextTokenizer> tok =
      tokenizer::byteTextTokenizer();
  std::vector<std::string> spellings(vocab);
  for (int64_t id = 0; id < vocab; ++id)
    spellings[id] = tok->spelling(id);
  auto trie = std::make_shared<const TokenTrie>(spellings, tok->eosId());
  auto dfa = compileRegex("<think>[^<]*</think><answer>-?[0-9]+</answer>");
  ASSERT_TRUE(dfa.ok());
  TokenConstraint constraint(*std::move(dfa), trie);
  constraint.precompute(int64_t{1} << 26);
  std::vector<int32_t> state(kBatch, constraint.start());
  std::mt19937 rng(2);
  double host = 0;
  for (int64_t step = 0; step < kSteps; ++step) {
    // A sampled token per row, drawn outside the timed part.
    std::vector<int64_t> token(kBatch);
    for (int64_t r = 0; r < kBatch; ++r) {
      const std::vector<uint64_t> &bits = constraint.allowed(state[r]);
      std::vector<int64_t> ok;
      for (int64_t id = 0; id < vocab; ++id)
        if ((bits[id / 64] >> (id % 64)) & 1)
          ok.push_back(id);
      token[r] = ok[rng() % ok.size()];
    }
    auto start = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < kBatch; ++r) {
      int32_t next = constraint.advance(state[r], token[r]);
      state[r] = next == ByteDfa::kDead || constraint.complete(next)
                     ? constraint.start()
                     : next;
    }
    HostTensor mask(proto::F32, {kBatch, vocab});
    for (int64_t r = 0; r < kBatch; ++r)
      constraint.writeMask(state[r], mask.data<float>() + r * vocab);
    host += seconds(start);
  }
  host /= kSteps;
  double graphShare = std::max(0.0, withMask - without);
  std::printf("decode step at batch %lld (vocab %lld): %.3f ms with the mask "
              "input, %.3f ms without; host mask work %.4f ms; mask cost "
              "%.2f%% of a step (host %.2f%%, graph %.2f%%); medians\n",
              static_cast<long long>(kBatch), static_cast<long long>(vocab),
              withMask * 1e3, without * 1e3, host * 1e3,
              (host + graphShare) / withMask * 100, host / withMask * 100,
              graphShare / withMask * 100);
  // The target is 10%; timings on a shared machine are noisy, so the test
  // holds the host's share to it and leaves the graph's difference (medians
  // of interleaved steps, still within noise) to the printed figure.
  EXPECT_LT(host, 0.10 * withMask);
}

} // namespace
} // namespace kiln::serving
