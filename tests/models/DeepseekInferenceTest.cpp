//===- DeepseekInferenceTest.cpp - prefill/decode, sampling, generation ---===//
//
// On the parity fixture's model: cached prefill + absorbed decode against the
// full forward, in-graph sampling (seeds, greedy, top-k/top-p, batch
// independence, min-p) and the host loop's stop rules.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/ForwardingEntryRunner.h"
#include "models/deepseek/DeepseekInference.h"
#include "models/deepseek/Generate.h"
#include "models/deepseek/HfCheckpoint.h"
#include "tests/codegen/CompileTestUtil.h"
#include "tests/models/TinyDeepseekConfig.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

namespace names = inference;

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";
constexpr int64_t kBatch = 3, kPromptLen = 6, kMaxLen = 12;

/// One executor with "prefill", "decode" and "forward" (the plain model over
/// [kBatch, kMaxLen], the reference), compiled once for the whole suite.
class DeepseekInference : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    auto cfg = readDeepseekV3Config(kFixtures + "config.json");
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    config = new DeepseekV3Config(*cfg);
    Graph graph("deepseek_inference");
    DeepseekV3Model model(graph, *config, DType::f32);
    Function &fn = graph.function("forward");
    fn.output(
        "logits",
        model.logits(fn, fn.input("input_ids", {kBatch, kMaxLen}, DType::i64)));
    ASSERT_TRUE(
        addDeepseekInference(graph, model, {kBatch, kPromptLen, kMaxLen}).ok())
        << graph.status();
    auto module = graph.build();
    ASSERT_TRUE(module.ok()) << module.status();
    auto exe = codegen::compile(*module);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto created = Executor::create(*exe);
    ASSERT_TRUE(created.ok()) << created.status();
    executor = created->release();
    ASSERT_TRUE(loadHfCheckpoint(*executor, *config, kFixtures).ok());
  }
  static void TearDownTestSuite() {
    delete executor;
    delete config;
    executor = nullptr;
    config = nullptr;
  }
  void SetUp() override {
    if (!executor)
      GTEST_SKIP() << "suite setup failed";
  }

  /// Full-forward logits [kBatch, kMaxLen, V] of right-padded sequences.
  static std::vector<double>
  forward(const std::vector<std::vector<int64_t>> &seqs) {
    HostTensor ids(proto::I64, {kBatch, kMaxLen});
    for (size_t b = 0; b < seqs.size(); ++b)
      for (size_t i = 0; i < seqs[b].size(); ++i)
        ids.setInt(b * kMaxLen + i, seqs[b][i]);
    auto out = executor->run("forward", {ids});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0].toDoubles() : std::vector<double>{};
  }

  static std::vector<std::vector<int64_t>> prompts(uint32_t seed,
                                                   std::vector<int> lengths) {
    std::mt19937 rng(seed);
    std::vector<std::vector<int64_t>> out;
    for (int len : lengths) {
      out.emplace_back();
      for (int i = 0; i < len; ++i)
        out.back().push_back(rng() % config->vocabSize);
    }
    return out;
  }

  static std::vector<GenerationResult>
  run(const std::vector<GenerationRequest> &requests,
      const GenerateOptions &options = {}) {
    auto out = generate(*executor, requests, options);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : std::vector<GenerationResult>{};
  }

  static DeepseekV3Config *config;
  static Executor *executor;
};

DeepseekV3Config *DeepseekInference::config = nullptr;
Executor *DeepseekInference::executor = nullptr;

HostTensor f32s(std::vector<double> v) {
  return HostTensor::fromDoubles(proto::F32, {static_cast<int64_t>(v.size())},
                                 v);
}

std::map<std::string, HostTensor> greedyInputs() {
  return {{names::kTemperature, f32s({0, 0, 0})},
          {names::kTopK, HostTensor::ofInts({0, 0, 0})},
          {names::kTopP, f32s({1, 1, 1})},
          {names::kSeed, HostTensor::ofInts({0, 0, 0})},
          {names::kStep, HostTensor::ofInts({0, 0, 0})}};
}

TEST_F(DeepseekInference, PrefillThenDecodeMatchesFullForward) {
  // Different prompt lengths in one batch; then teacher-forced decode steps.
  std::vector<int> lengths = {5, 2, 6};
  auto seqs = prompts(11, lengths);
  auto extra = prompts(12, {6, 6, 6});
  int64_t v = config->vocabSize;

  std::map<std::string, HostTensor> in = greedyInputs();
  HostTensor tokens(proto::I64, {kBatch, kPromptLen});
  for (int64_t b = 0; b < kBatch; ++b)
    for (int i = 0; i < lengths[b]; ++i)
      tokens.setInt(b * kPromptLen + i, seqs[b][i]);
  in[names::kTokens] = tokens;
  in[names::kLengths] = HostTensor::ofInts({5, 2, 6});
  auto prefill = executor->runNamed(names::kPrefill, in);
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  // got[b][p]: cached logits at sequence position p.
  std::vector<std::map<int64_t, std::vector<double>>> got(kBatch);
  auto keep = [&](const HostTensor &logits, std::vector<int64_t> pos) {
    std::vector<double> all = logits.toDoubles();
    for (int64_t b = 0; b < kBatch; ++b)
      got[b][pos[b]] =
          std::vector<double>(all.begin() + b * v, all.begin() + (b + 1) * v);
  };
  keep(prefill->at(names::kLogits), {4, 1, 5});

  for (int step = 0; step < 6; ++step) {
    std::vector<int64_t> tok, pos;
    for (int64_t b = 0; b < kBatch; ++b) {
      tok.push_back(extra[b][step]);
      pos.push_back(lengths[b] + step);
      seqs[b].push_back(extra[b][step]);
    }
    in = greedyInputs();
    in[names::kTokens] = HostTensor::ofInts(tok);
    in[names::kPositions] = HostTensor::ofInts(pos);
    auto decode = executor->runNamed(names::kDecode, in);
    ASSERT_TRUE(decode.ok()) << decode.status();
    keep(decode->at(names::kLogits), pos);
  }

  std::vector<double> full = forward(seqs);
  double maxDiff = 0, maxRef = 0;
  int compared = 0;
  for (int64_t b = 0; b < kBatch; ++b)
    for (const auto &[p, row] : got[b]) {
      for (int64_t k = 0; k < v; ++k) {
        double want = full[(b * kMaxLen + p) * v + k];
        maxDiff = std::max(maxDiff, std::abs(row[k] - want));
        maxRef = std::max(maxRef, std::abs(want));
      }
      ++compared;
    }
  std::printf("cached vs full forward over %d positions: max|d| = %.3g, "
              "max|ref| = %.3g, ratio = %.3g\n",
              compared, maxDiff, maxRef, maxDiff / maxRef);
  EXPECT_EQ(compared, 21);
  EXPECT_LE(maxDiff / maxRef, 1e-4);
}

TEST_F(DeepseekInference, GreedyIsArgmaxOfFullForward) {
  auto seqs = prompts(21, {3, 6, 1});
  std::vector<GenerationRequest> requests;
  for (const auto &p : seqs)
    requests.push_back({p, 6});
  auto results = run(requests);
  ASSERT_EQ(results.size(), 3u);
  int64_t v = config->vocabSize;
  for (size_t b = 0; b < 3; ++b) {
    ASSERT_EQ(results[b].tokens.size(), 6u);
    EXPECT_EQ(results[b].finishReason, FinishReason::length);
    seqs[b].insert(seqs[b].end(), results[b].tokens.begin(),
                   results[b].tokens.end() - 1);
  }
  std::vector<double> full = forward(seqs);
  for (size_t b = 0; b < 3; ++b) {
    size_t promptLen = seqs[b].size() - 5;
    for (size_t k = 0; k < 6; ++k) {
      const double *row = &full[(b * kMaxLen + promptLen - 1 + k) * v];
      int64_t want = std::max_element(row, row + v) - row;
      EXPECT_EQ(results[b].tokens[k], want)
          << "sequence " << b << " token " << k;
    }
  }
}

std::vector<GenerationRequest>
sampled(const std::vector<std::vector<int64_t>> &ps, SamplingParams params,
        int64_t maxNew = 8) {
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < ps.size(); ++i) {
    GenerationRequest r{ps[i], maxNew, params};
    r.sampling.seed = params.seed + 100 * static_cast<int64_t>(i);
    requests.push_back(r);
  }
  return requests;
}

std::vector<std::vector<int64_t>>
tokensOf(const std::vector<GenerationResult> &results) {
  std::vector<std::vector<int64_t>> out;
  for (const auto &r : results)
    out.push_back(r.tokens);
  return out;
}

TEST_F(DeepseekInference, SeededSamplingIsReproducible) {
  auto ps = prompts(31, {4, 6, 2});
  auto a = tokensOf(run(sampled(ps, {1.5f, 0, 1.0f, 7})));
  auto b = tokensOf(run(sampled(ps, {1.5f, 0, 1.0f, 7})));
  auto c = tokensOf(run(sampled(ps, {1.5f, 0, 1.0f, 8})));
  auto greedy = tokensOf(run(sampled(ps, {0.0f, 0, 1.0f, 7})));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, greedy);
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NE(a[i], c[i]) << "sequence " << i << " ignored its seed";
}

TEST_F(DeepseekInference, TopKOneAndTinyTopPAreGreedy) {
  auto ps = prompts(41, {6, 3, 5});
  auto greedy = tokensOf(run(sampled(ps, {0.0f, 0, 1.0f, 3})));
  auto topK = tokensOf(run(sampled(ps, {2.0f, 1, 1.0f, 3})));
  auto topP = tokensOf(run(sampled(ps, {2.0f, 0, 1e-6f, 3})));
  EXPECT_EQ(topK, greedy);
  EXPECT_EQ(topP, greedy);
  // A real nucleus samples something else somewhere.
  auto wide = tokensOf(run(sampled(ps, {2.0f, 5, 0.9f, 3})));
  EXPECT_NE(wide, greedy);
}

TEST_F(DeepseekInference, SamplesIgnoreTheRestOfTheBatch) {
  auto ps = prompts(51, {5, 3, 6});
  SamplingParams params{1.0f, 8, 0.95f, 5};
  auto base = run(sampled(ps, params));

  // Other rows change prompt, seed and sampling mode.
  auto others = sampled(ps, params);
  others[1].prompt = prompts(52, {6})[0];
  others[1].sampling = {0.0f, 0, 1.0f, 99};
  others[2].prompt = {1};
  others[2].sampling.seed = 1234;
  others[2].maxNewTokens = 2;
  auto changed = run(others);
  EXPECT_EQ(changed[0].tokens, base[0].tokens);

  // The same request in another row, and in a second wave of a longer list.
  auto moved = sampled(ps, params);
  std::swap(moved[0], moved[2]);
  moved.push_back(sampled(ps, params)[0]);
  auto movedOut = run(moved);
  ASSERT_EQ(movedOut.size(), 4u);
  EXPECT_EQ(movedOut[2].tokens, base[0].tokens);
  EXPECT_EQ(movedOut[0].tokens, base[2].tokens);
  EXPECT_EQ(movedOut[3].tokens, base[0].tokens);
}

std::string letters(const std::vector<int64_t> &tokens) {
  std::string s;
  for (int64_t t : tokens)
    s += static_cast<char>('a' + t % 26);
  return s;
}

/// Counts the prefill and decode steps run through it.
class CountingRunner final : public ForwardingEntryRunner {
public:
  using ForwardingEntryRunner::ForwardingEntryRunner;
  absl::StatusOr<std::vector<HostTensor>>
  run(std::string_view entry, const std::vector<HostTensor> &inputs) override {
    ++steps[std::string(entry)];
    return inner.run(entry, inputs);
  }
  absl::StatusOr<std::map<std::string, HostTensor>>
  runNamed(std::string_view entry,
           const std::map<std::string, HostTensor> &inputs,
           const std::vector<std::string> &wanted = {}) override {
    ++steps[std::string(entry)];
    return inner.runNamed(entry, inputs, wanted);
  }

  std::map<std::string, int64_t> steps;
};

TEST_F(DeepseekInference, LockstepStepsWhileAnyRankIsGoing) {
  // Two waves (kBatch + 1 requests), sampled, ending after 2 or 4 tokens.
  auto ps = prompts(71, {3, 4, 5, 2});
  std::vector<GenerationRequest> requests;
  for (size_t i = 0; i < ps.size(); ++i) {
    requests.push_back({ps[i], i % 2 ? 4 : 2});
    requests.back().sampling = {1.0f, 0, 1.0f, static_cast<int64_t>(i)};
  }
  CountingRunner alone(*executor);
  auto want = generate(alone, requests);
  ASSERT_TRUE(want.ok()) << want.status();
  // Each wave: a prefill, then decodes until its longest request's 4 tokens.
  EXPECT_EQ(alone.steps[names::kPrefill], 2);
  EXPECT_EQ(alone.steps[names::kDecode], 6);

  // Another rank that goes on for `more` of the questions this one answers
  // false (done): each true answer runs a step, this rank's finished rows
  // idling through the extra ones without changing its results.
  for (int64_t more : {0, 5, 12, 20}) {
    SCOPED_TRACE(more);
    int64_t asked = 0, going = 0;
    GenerateOptions options;
    options.lockstep = [&](bool mine) -> absl::StatusOr<bool> {
      bool any = mine || ++asked <= more;
      going += any;
      return any;
    };
    CountingRunner inStep(*executor);
    auto have = generate(inStep, requests, options);
    ASSERT_TRUE(have.ok()) << have.status();
    EXPECT_EQ(tokensOf(*have), tokensOf(*want));
    for (size_t i = 0; i < want->size(); ++i)
      EXPECT_EQ((*have)[i].finishReason, (*want)[i].finishReason) << i;
    EXPECT_EQ(inStep.steps[names::kPrefill] + inStep.steps[names::kDecode],
              going);
    EXPECT_GE(inStep.steps[names::kPrefill], 2);
    EXPECT_GE(inStep.steps[names::kDecode], 6);
    if (more == 0) {
      EXPECT_EQ(inStep.steps, alone.steps);
    }
  }

  // A rank with nothing to generate steps with padding rows alone: a wave
  // (prefill and 4 decodes) while the other rank's 5 answers are true.
  int64_t asked = 0;
  GenerateOptions options;
  options.lockstep = [&](bool mine) -> absl::StatusOr<bool> {
    EXPECT_FALSE(mine);
    return ++asked <= 5;
  };
  CountingRunner idle(*executor);
  auto none = generate(idle, {}, options);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(idle.steps[names::kPrefill], 1);
  EXPECT_EQ(idle.steps[names::kDecode], 4);
  EXPECT_EQ(asked, 7); // then the wave's last decode and the next wave
}

TEST_F(DeepseekInference, EosStopsAndLengthsEndSequences) {
  auto ps = prompts(61, {4, 5, 6});
  std::vector<GenerationRequest> requests;
  for (const auto &p : ps)
    requests.push_back({p, 6});
  auto greedy = run(requests);
  ASSERT_EQ(greedy.size(), 3u);

  // EOS: row 0's third greedy token.
  int64_t eos = greedy[0].tokens[2];
  auto firstIndex = [](const std::vector<int64_t> &t, int64_t x) {
    return std::find(t.begin(), t.end(), x) - t.begin();
  };
  GenerateOptions options;
  options.eosId = eos;
  options.detokenize = letters;
  // Stop string: row 1's tokens 2..3 as text; stop token sequence: row 2's
  // tokens 1..2.
  requests[1].stopStrings = {
      letters({greedy[1].tokens[2], greedy[1].tokens[3]})};
  requests[2].stopTokens = {{greedy[2].tokens[1], greedy[2].tokens[2]}};
  auto out = run(requests, options);
  ASSERT_EQ(out.size(), 3u);

  EXPECT_EQ(out[0].finishReason, FinishReason::eos);
  EXPECT_EQ(static_cast<int64_t>(out[0].tokens.size()),
            firstIndex(greedy[0].tokens, eos) + 1);
  EXPECT_EQ(out[0].tokens.back(), eos);

  // Each must stop at the first point where its rule matches (or at EOS if
  // that comes first), with the greedy tokens up to there.
  for (size_t r : {1, 2}) {
    const auto &want = greedy[r].tokens;
    size_t n = 1;
    FinishReason reason = FinishReason::length;
    for (; n <= want.size(); ++n) {
      std::vector<int64_t> prefix(want.begin(), want.begin() + n);
      if (prefix.back() == eos) {
        reason = FinishReason::eos;
        break;
      }
      if (r == 1 && letters(prefix).find(requests[1].stopStrings[0]) !=
                        std::string::npos) {
        reason = FinishReason::stop;
        break;
      }
      if (r == 2 && prefix.size() >= 2 &&
          prefix[n - 2] == requests[2].stopTokens[0][0] &&
          prefix[n - 1] == requests[2].stopTokens[0][1]) {
        reason = FinishReason::stop;
        break;
      }
    }
    ASSERT_NE(reason, FinishReason::length) << "row " << r;
    EXPECT_EQ(out[r].finishReason, reason) << "row " << r;
    EXPECT_EQ(out[r].tokens,
              std::vector<int64_t>(want.begin(), want.begin() + n))
        << "row " << r;
  }
  if (out[1].finishReason == FinishReason::stop) {
    EXPECT_EQ(out[1].stopString, requests[1].stopStrings[0]);
    std::string full = letters(out[1].tokens);
    EXPECT_EQ(out[1].text, full.substr(0, full.find(out[1].stopString)));
  }

  // Length: maxNewTokens, and a full cache (6-token prompt, 12 slots: the
  // 7th token needs no slot).
  GenerationRequest shortReq{ps[0], 2}, longReq{ps[2], 50};
  auto lengthOut = run({shortReq, longReq});
  ASSERT_EQ(lengthOut.size(), 2u);
  EXPECT_EQ(lengthOut[0].finishReason, FinishReason::length);
  EXPECT_EQ(lengthOut[0].tokens.size(), 2u);
  EXPECT_EQ(lengthOut[1].finishReason, FinishReason::length);
  EXPECT_EQ(lengthOut[1].tokens.size(), 7u);
}

// The other branches of the model: one q_proj, plain rope without
// interleaving, tied embeddings, MoE from the first layer; random weights.
DeepseekV3Config tinyRandomConfig() { return testing::tinyDeepseekConfig(0); }

TEST(DeepseekInferenceRandom, DecodeMatchesFullForward) {
  DeepseekV3Config c = tinyRandomConfig();
  ASSERT_TRUE(c.validate().ok()) << c.validate();
  const int64_t batch = 2, promptLen = 4, maxLen = 7;

  Graph graph("deepseek_inference_random");
  DeepseekV3Model model(graph, c, DType::f32, /*seed=*/5);
  Function &fn = graph.function("forward");
  fn.output("logits", model.logits(fn, fn.input("input_ids", {batch, maxLen},
                                                DType::i64)));
  ASSERT_TRUE(
      addDeepseekInference(graph, model, {batch, promptLen, maxLen}).ok())
      << graph.status();
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  ASSERT_TRUE((*executor)->initializeState().ok());

  // Greedy continuations, then the full forward over prompt + continuation:
  // every generated token must be the argmax there, and the cached logits of
  // the last step must match the full forward's.
  std::vector<GenerationRequest> requests = {{{3, 9, 27, 1}, 4}, {{14, 2}, 6}};
  auto results = generate(**executor, requests);
  ASSERT_TRUE(results.ok()) << results.status();
  HostTensor ids(proto::I64, {batch, maxLen});
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> seq = requests[b].prompt;
    const auto &gen = (*results)[b].tokens;
    ASSERT_EQ(gen.size(), static_cast<size_t>(requests[b].maxNewTokens));
    seq.insert(seq.end(), gen.begin(), gen.end() - 1);
    lengths.push_back(static_cast<int64_t>(seq.size()));
    for (size_t i = 0; i < seq.size(); ++i)
      ids.setInt(b * maxLen + i, seq[i]);
  }
  auto full = (*executor)->run("forward", {ids});
  ASSERT_TRUE(full.ok()) << full.status();
  std::vector<double> logits = (*full)[0].toDoubles();
  int64_t v = c.vocabSize;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t prompt = static_cast<int64_t>(requests[b].prompt.size());
    const auto &gen = (*results)[b].tokens;
    for (size_t k = 0; k < gen.size(); ++k) {
      const double *row = &logits[(b * maxLen + prompt - 1 + k) * v];
      EXPECT_EQ(gen[k], std::max_element(row, row + v) - row)
          << "sequence " << b << " token " << k;
    }
  }
  // Re-run the last decode step by hand: its inputs are the final tokens of
  // each sequence at their own positions, and the cache already holds the
  // rest (the loop's last step wrote the same slots).
  std::map<std::string, HostTensor> in = {
      {names::kTemperature, f32s({0, 0})},
      {names::kTopK, HostTensor::ofInts({0, 0})},
      {names::kTopP, f32s({1, 1})},
      {names::kSeed, HostTensor::ofInts({0, 0})},
      {names::kStep, HostTensor::ofInts({0, 0})}};
  std::vector<int64_t> last, pos;
  for (int64_t b = 0; b < batch; ++b) {
    last.push_back(ids.getInt(b * maxLen + lengths[b] - 1));
    pos.push_back(lengths[b] - 1);
  }
  in[names::kTokens] = HostTensor::ofInts(last);
  in[names::kPositions] = HostTensor::ofInts(pos);
  auto decode = (*executor)->runNamed(names::kDecode, in);
  ASSERT_TRUE(decode.ok()) << decode.status();
  std::vector<double> got = decode->at(names::kLogits).toDoubles();
  double maxDiff = 0, maxRef = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t k = 0; k < v; ++k) {
      double want = logits[(b * maxLen + lengths[b] - 1) * v + k];
      maxDiff = std::max(maxDiff, std::abs(got[b * v + k] - want));
      maxRef = std::max(maxRef, std::abs(want));
    }
  std::printf("random config, last decode step vs full forward: ratio = "
              "%.3g\n",
              maxDiff / maxRef);
  EXPECT_LE(maxDiff / maxRef, 1e-4);
}

/// Prefill and decode of the tiny random model (seed 5) on the CPU executor,
/// its state initialised.
std::unique_ptr<Executor> tinyInference(bool greedyOnly) {
  DeepseekV3Config c = tinyRandomConfig();
  Graph graph("deepseek_inference_random");
  DeepseekV3Model model(graph, c, DType::f32, /*seed=*/5);
  InferenceShape shape{2, 4, 7};
  shape.greedyOnly = greedyOnly;
  EXPECT_TRUE(addDeepseekInference(graph, model, shape).ok()) << graph.status();
  std::unique_ptr<Executor> executor = testing::compileGraph(graph);
  if (!executor || !executor->initializeState().ok())
    return nullptr;
  return executor;
}

// The precision policies on the inference model (same seed, same weights):
// int4 weights (group-wise along K) and fp8 GEMMs each move the logits a
// little and not at all where they choose nothing; the report of what they
// cost in quality is the relative logits error against the model's types.
TEST(DeepseekInferenceRandom, PrecisionPoliciesStayNearTheModelsLogits) {
  DeepseekV3Config c = tinyRandomConfig();
  auto forward = [&](const std::string &policy) {
    Graph graph("deepseek_forward_random");
    DeepseekV3Model model(graph, c, DType::f32, /*seed=*/5);
    Function &fn = graph.function("forward");
    fn.output("logits",
              model.logits(fn, fn.input("input_ids", {2, 6}, DType::i64)));
    codegen::CompileOptions options;
    options.precision = policy;
    std::unique_ptr<Executor> executor = testing::compileGraph(graph, options);
    EXPECT_NE(executor, nullptr) << policy;
    // Counted over every entry: weights are quantized once, in
    // kiln.derive_state (kiln-hoist-derived-state).
    int quantizes = 0;
    if (executor)
      for (const proto::EntryPoint &entry : executor->executable().entries())
        for (const proto::Step &step : entry.steps())
          quantizes += step.op() == "quantize";
    EXPECT_EQ(quantizes > 0, policy != "bf16") << policy;
    HostTensor ids(proto::I64, {2, 6});
    std::vector<int64_t> tokens = {3, 9, 27, 1, 14, 2, 5, 33, 8, 0, 19, 7};
    std::memcpy(ids.data(), tokens.data(), ids.byteSize());
    std::vector<double> logits;
    if (executor && executor->initializeState().ok()) {
      auto out = executor->run("forward", {ids});
      EXPECT_TRUE(out.ok()) << out.status();
      if (out.ok())
        logits = (*out)[0].toDoubles();
    }
    return logits;
  };
  auto relativeError = [](const std::vector<double> &a,
                          const std::vector<double> &b) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      norm += a[i] * a[i];
    }
    return std::sqrt(diff / norm);
  };
  std::vector<double> wide = forward("bf16"), fp8 = forward("fp8"),
                      int4 = forward("int4");
  ASSERT_FALSE(wide.empty());
  ASSERT_EQ(fp8.size(), wide.size());
  ASSERT_EQ(int4.size(), wide.size());
  double fp8Error = relativeError(wide, fp8), int4Error = relativeError(wide, int4);
  std::printf("relative logits error: fp8 %.4f, int4 %.4f\n", fp8Error,
              int4Error);
  // e4m3 keeps 3 mantissa bits of every operand; int4 keeps 15 levels of a
  // weight group.
  EXPECT_GT(fp8Error, 0);
  EXPECT_LT(fp8Error, 0.05);
  EXPECT_GT(int4Error, fp8Error);
  EXPECT_LT(int4Error, 0.1);
}

// Greedy-only entries (InferenceShape::greedyOnly) take the argmax without
// the sampler's sort: the same tokens as the sampling entries give at
// temperature 0, no argsort step, and sampled requests refused by name.
TEST(DeepseekInferenceRandom, GreedyOnlyEntriesGiveTheSamplersGreedyTokens) {
  auto full = tinyInference(false);
  auto argmaxOnly = tinyInference(true);
  ASSERT_NE(full, nullptr);
  ASSERT_NE(argmaxOnly, nullptr);
  auto argsorts = [](const proto::Executable &exe) {
    int n = 0;
    for (const proto::EntryPoint &entry : exe.entries())
      for (const proto::Step &step : entry.steps())
        n += step.op() == "argsort";
    return n;
  };
  EXPECT_GT(argsorts(full->executable()), 0);
  EXPECT_EQ(argsorts(argmaxOnly->executable()), 0);

  std::vector<GenerationRequest> requests = {{{3, 9, 27, 1}, 3}, {{14, 2}, 3}};
  auto want = generate(*full, requests);
  auto got = generate(*argmaxOnly, requests);
  ASSERT_TRUE(want.ok()) << want.status();
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(want->size(), got->size());
  for (size_t i = 0; i < want->size(); ++i)
    EXPECT_EQ((*got)[i].tokens, (*want)[i].tokens) << "request " << i;

  requests[1].sampling.temperature = 0.7f;
  auto refused = generate(*argmaxOnly, requests);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("request 1: temperature 0.7"),
            std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("greedily only"), std::string::npos)
      << refused.status();
}

// After a sticky error every op is a no-op, in model code too: MLA's rope
// and slices once read the last dimension of an invalid tensor's empty shape.
TEST(DeepseekInferenceRandom, AnInvalidInputIsAStickyErrorNotACrash) {
  DeepseekV3Config c;
  c.vocabSize = 40;
  c.hiddenSize = 24;
  c.intermediateSize = 32;
  c.moeIntermediateSize = 12;
  c.numHiddenLayers = 2;
  c.firstKDenseReplace = 1;
  c.numAttentionHeads = 3;
  c.numKeyValueHeads = 3;
  c.kvLoraRank = 12;
  c.qLoraRank = 8;
  c.qkNopeHeadDim = 6;
  c.qkRopeHeadDim = 4;
  c.vHeadDim = 5;
  c.ropeInterleave = true;
  c.nRoutedExperts = 4;
  c.numExpertsPerTok = 2;
  c.nGroup = 2;
  c.topkGroup = 1;
  ASSERT_TRUE(c.validate().ok()) << c.validate();
  Graph graph("invalid_input");
  DeepseekV3Model model(graph, c, DType::f32, /*seed=*/5);
  Function &fn = graph.function("forward");
  Tensor ids = fn.input("input_ids", {2, 7}, DType::i64);
  Tensor bad = reshape(ids, {5}); // 14 elements do not make 5
  EXPECT_FALSE(bad.valid());
  fn.output("logits", model.logits(fn, bad));
  ASSERT_FALSE(graph.status().ok());
  EXPECT_NE(graph.status().message().find("reshape"), std::string::npos)
      << graph.status();
}

// min-p on hand-made logits: token probabilities relative to the top one
// are 1, 0.5, 0.3 and 0.09 (and ~0 for the two others), so min_p 0.25 keeps
// the first three; temperature 2 takes square roots first (1, 0.71, 0.55,
// 0.3), so the same min_p keeps four and 0.4 three; min_p 1 is greedy.
TEST(DeepseekSampling, MinPKeepsTokensNearTheTopOneAfterTemperature) {
  constexpr int64_t kRows = 600, kVocab = 6;
  Graph graph("min_p");
  Function &fn = graph.function("sample");
  Tensor logits = fn.input("logits", {kRows, kVocab}, DType::f32);
  SamplingInputs sampling = samplingInputs(fn, kRows, 0, /*minP=*/true);
  fn.output("token", sampleTokens(logits, sampling));
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();
  std::vector<double> row = {std::log(0.3), 0.0,   std::log(0.09),
                             std::log(0.5), -30.0, -30.0};
  std::vector<double> all;
  for (int64_t r = 0; r < kRows; ++r)
    all.insert(all.end(), row.begin(), row.end());
  std::vector<int64_t> seeds(kRows), zeros(kRows, 0);
  for (int64_t r = 0; r < kRows; ++r)
    seeds[r] = r + 1;
  auto counts = [&](double temperature, double minP) {
    std::map<std::string, HostTensor> inputs{
        {"logits", HostTensor::fromDoubles(proto::F32, {kRows, kVocab}, all)},
        {names::kTemperature, f32s(std::vector<double>(kRows, temperature))},
        {names::kTopK, HostTensor::ofInts(zeros)},
        {names::kTopP, f32s(std::vector<double>(kRows, 1.0))},
        {names::kSeed, HostTensor::ofInts(seeds)},
        {names::kStep, HostTensor::ofInts(zeros)},
        {names::kMinP, f32s(std::vector<double>(kRows, minP))}};
    auto out = (*executor)->runNamed("sample", inputs);
    EXPECT_TRUE(out.ok()) << out.status();
    std::vector<int64_t> n(kVocab, 0);
    if (out.ok())
      for (int64_t r = 0; r < kRows; ++r)
        ++n[out->at("token").getInt(r)];
    return n;
  };
  // Kept: tokens 1 (top), 3 (0.5) and 0 (0.3); token 2 (0.09) never drawn.
  std::vector<int64_t> n = counts(1.0, 0.25);
  EXPECT_EQ(n[2] + n[4] + n[5], 0);
  // Renormalised over the three: 1/1.8 = 0.56, 0.28, 0.17 of 600 draws.
  EXPECT_NEAR(n[1], 600 / 1.8, 45);
  EXPECT_NEAR(n[3], 300 / 1.8, 40);
  EXPECT_NEAR(n[0], 180 / 1.8, 35);
  // No filter: token 2 (0.09 / 1.89 of the mass, ~29 draws) appears.
  EXPECT_GT(counts(1.0, 0.0)[2], 5);
  // After temperature 2 token 2 is at 0.3 of the top: kept by 0.25, not 0.4.
  EXPECT_GT(counts(2.0, 0.25)[2], 5);
  n = counts(2.0, 0.4);
  EXPECT_EQ(n[2], 0);
  EXPECT_GT(n[0], 5);
  // min_p 1 keeps the top token alone.
  EXPECT_EQ(counts(1.0, 1.0)[1], kRows);
}

TEST_F(DeepseekInference, BadRequestsAreErrors) {
  auto tooLong = generate(*executor, {{std::vector<int64_t>(7, 1), 4}});
  ASSERT_FALSE(tooLong.ok());
  EXPECT_NE(tooLong.status().message().find("request 0"), std::string::npos)
      << tooLong.status();
  GenerationRequest noDetok{{1, 2}, 4};
  noDetok.stopStrings = {"x"};
  EXPECT_FALSE(generate(*executor, {noDetok}).ok());
  EXPECT_FALSE(generate(*executor, {{{}, 4}}).ok());
  // NaN passes the sampling kernel's range tests.
  GenerationRequest nan{{1, 2}, 4};
  nan.sampling.temperature = std::nanf("");
  auto r = generate(*executor, {nan});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("must be finite"), std::string::npos)
      << r.status();
  nan.sampling.temperature = 1;
  nan.sampling.topP = INFINITY;
  EXPECT_FALSE(generate(*executor, {nan}).ok());
  nan.sampling.topP = 1;
  nan.sampling.minP = std::nanf("");
  EXPECT_FALSE(generate(*executor, {nan}).ok());
  // These entries were built without min_p: asking for it is an error, not
  // a silently unfiltered sample.
  GenerationRequest minP{{1, 2}, 4};
  minP.sampling.temperature = 1;
  minP.sampling.minP = 0.1f;
  r = generate(*executor, {minP});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("takes no 'min_p'"), std::string::npos)
      << r.status();
  // A set stop flag ends generation before its next step.
  std::atomic<bool> stop{true};
  GenerateOptions options;
  options.stop = &stop;
  r = generate(*executor, {{{1, 2}, 4}}, options);
  EXPECT_TRUE(absl::IsCancelled(r.status())) << r.status();
  stop = false;
  EXPECT_TRUE(generate(*executor, {{{1, 2}, 4}}, options).ok());
}

} // namespace
} // namespace kiln::models
