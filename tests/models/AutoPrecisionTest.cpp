//===- AutoPrecisionTest.cpp - the auto precision policy, tiny DeepSeek ---===//
//
// One instrumented compile (kiln-instrument-precision) against separate
// compiles of the same model: all switches off is the plain graph bit for
// bit, switch i on is the graph with only weight i narrowed. Then the auto
// choice on that graph: a mixed assignment within a budget between the
// smallest and largest single-weight errors, held out included; nothing
// narrowed for a budget of 0; every candidate for a huge one.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/precision/AutoPrecision.h"
#include "models/precision/CalibrationPrompts.h"
#include "models/precision/PrecisionCalibration.h"
#include "tests/codegen/CompileTestUtil.h"
#include "tests/models/TinyDeepseekConfig.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

constexpr int64_t kSeed = 5;

DeepseekV3Config tinyConfig() { return testing::tinyDeepseekConfig(1); }

TokenBatch randomBatch(uint64_t seed, int rows) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> token(0, 39), length(5, 8);
  TokenBatch batch(rows);
  for (auto &seq : batch) {
    seq.resize(length(rng));
    for (int64_t &id : seq)
      id = token(rng);
  }
  return batch;
}

class AutoPrecision : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    CalibrationSetup setup;
    setup.config = tinyConfig();
    setup.seed = kSeed;
    auto created = PrecisionCalibration::create(setup, randomBatch(1, 4),
                                                randomBatch(2, 3));
    ASSERT_TRUE(created.ok()) << created.status();
    calibration = created->release();
  }
  static void TearDownTestSuite() {
    delete calibration;
    calibration = nullptr;
  }
  void SetUp() override {
    if (!calibration)
      GTEST_SKIP() << "suite setup failed";
  }

  /// The same model's logits over the calibration batch, compiled on its
  /// own with `precision` (kiln-assign-precision's policy or assignment).
  static std::vector<double> separateCompile(const std::string &precision) {
    HostTensor ids = calibration->inputIds(false);
    Graph graph("precision_separate");
    DeepseekV3Model model(graph, tinyConfig(), DType::f32, kSeed);
    Function &fn = graph.function("logits");
    fn.output("logits",
              model.logits(fn, fn.input("input_ids", ids.shape(), DType::i64)));
    codegen::CompileOptions options;
    options.precision = precision;
    std::unique_ptr<Executor> executor = testing::compileGraph(graph, options);
    if (!executor || !executor->initializeState().ok())
      return {};
    auto out = executor->run("logits", {ids});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0].toDoubles() : std::vector<double>{};
  }

  static bool bitwiseEqual(const std::vector<double> &a,
                           const std::vector<double> &b) {
    return a.size() == b.size() && !a.empty() &&
           std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
             return std::memcmp(&x, &y, sizeof x) == 0;
           });
  }

  static PrecisionCalibration *calibration;
};

PrecisionCalibration *AutoPrecision::calibration = nullptr;

TEST_F(AutoPrecision, CandidatesAreTheWeightGemmsTheNarrowPoliciesTag) {
  const auto &weights = calibration->weights();
  ASSERT_GE(weights.size(), 6u);
  EXPECT_EQ(calibration->values(),
            (std::vector<std::string>{"bf16", "fp8", "int4"}));
  for (const std::string &w : weights) {
    EXPECT_EQ(w.find("embed_tokens"), std::string::npos) << w;
    EXPECT_EQ(w.find("mlp.gate.weight"), std::string::npos) << w;
  }
  EXPECT_NE(std::find(weights.begin(), weights.end(),
                      "model.layers.0.self_attn.o_proj.weight"),
            weights.end());
}

TEST_F(AutoPrecision, SwitchesOffIsThePlainGraphBitForBit) {
  auto off = calibration->logits(
      std::vector<float>(calibration->weights().size(), 0.0f));
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_TRUE(bitwiseEqual(*off, separateCompile("bf16")));
}

TEST_F(AutoPrecision, OneSwitchOnIsTheGraphWithOnlyThatWeightNarrowed) {
  size_t n = calibration->weights().size();
  for (auto [index, value] :
       {std::pair<size_t, int>{0, 1}, {n - 1, 2}, {n / 2, 2}}) {
    std::vector<float> switches(n, 0.0f);
    switches[index] = static_cast<float>(value);
    auto got = calibration->logits(switches);
    ASSERT_TRUE(got.ok()) << got.status();
    std::string assignment =
        calibration->weights()[index] + "=" + calibration->values()[value];
    std::vector<double> want = separateCompile(assignment);
    EXPECT_TRUE(bitwiseEqual(*got, want)) << assignment;
    // And it is not the unquantized graph.
    EXPECT_FALSE(bitwiseEqual(*got, separateCompile("bf16"))) << assignment;
  }
}

TEST_F(AutoPrecision, ABudgetBetweenSingleErrorsGivesAMixWithinIt) {
  auto all = chooseAutoPrecision(*calibration, 1e9);
  ASSERT_TRUE(all.ok()) << all.status();
  double smallest = INFINITY, largest = 0;
  for (const TensorPrecision &t : all->tensors)
    for (double e : {t.fp8Error, t.int4Error}) {
      EXPECT_GT(e, 0) << t.weight;
      smallest = std::min(smallest, e);
      largest = std::max(largest, e);
    }
  double budget = std::sqrt(smallest * largest);
  auto chosen = chooseAutoPrecision(*calibration, budget);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  std::printf("%s%s\n", chosen->table().c_str(), chosen->assignment().c_str());
  std::set<std::string> types;
  for (const TensorPrecision &t : chosen->tensors)
    types.insert(t.chosen);
  EXPECT_GE(types.size(), 2u) << chosen->assignment();
  EXPECT_NE(chosen->assignment(), "bf16");
  EXPECT_LE(chosen->calibrationError, budget);
  EXPECT_LE(chosen->heldOutError, budget);
  EXPECT_GT(chosen->bytesSaved(), 0);
  EXPECT_LT(chosen->bytesSaved(), all->bytesSaved());
}

TEST_F(AutoPrecision, ABudgetOfZeroKeepsEveryWeightAsWritten) {
  auto chosen = chooseAutoPrecision(*calibration, 0);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_EQ(chosen->assignment(), "bf16");
  EXPECT_EQ(chosen->bytesSaved(), 0);
  EXPECT_EQ(chosen->heldOutError, 0);
}

TEST_F(AutoPrecision, AHugeBudgetNarrowsEveryCandidateToInt4) {
  auto chosen = chooseAutoPrecision(*calibration, 1e9);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  ASSERT_EQ(chosen->tensors.size(), calibration->weights().size());
  for (const TensorPrecision &t : chosen->tensors) {
    EXPECT_EQ(t.chosen, "int4") << t.weight;
    EXPECT_GT(t.int4Saved, t.fp8Saved) << t.weight;
  }
  EXPECT_GT(chosen->heldOutError, 0);
}

TEST_F(AutoPrecision, ABudgetThatIsNoFiniteErrorIsRefused) {
  for (double bad :
       {-0.01, static_cast<double>(NAN), static_cast<double>(INFINITY)}) {
    auto chosen = chooseAutoPrecision(*calibration, bad);
    ASSERT_FALSE(chosen.ok()) << bad;
    EXPECT_NE(chosen.status().message().find("precision budget"),
              std::string::npos)
        << chosen.status();
  }
}

TEST(AutoPrecisionInputs, BadBatchesAndPromptFilesAreNamed) {
  CalibrationSetup setup;
  setup.config = tinyConfig();
  auto outside = PrecisionCalibration::create(setup, {{1, 2, 40}}, {{3}});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("token id 40 is outside"),
            std::string::npos)
      << outside.status();
  auto noHeldOut = PrecisionCalibration::create(setup, {{1, 2}}, {});
  ASSERT_FALSE(noHeldOut.ok());
  EXPECT_NE(noHeldOut.status().message().find("held-out batch"),
            std::string::npos)
      << noHeldOut.status();

  std::string path = ::testing::TempDir() + "/one_prompt.txt";
  {
    std::ofstream out(path);
    out << "only one prompt\n\n   \n";
  }
  auto one = readCalibrationPrompts(path);
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("hold 1 non-empty lines"),
            std::string::npos)
      << one.status();
  {
    std::ofstream out(path, std::ios::app);
    out << "a second prompt\n";
  }
  auto two = readCalibrationPrompts(path);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(*two,
            (std::vector<std::string>{"only one prompt", "a second prompt"}));
  auto missing = readCalibrationPrompts(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path + ".missing"),
            std::string::npos);
}

TEST(AutoPrecisionBytes, NarrowTypesCountTheirScales) {
  // [256, 300]: fp8 2x3 blocks, int4 3 groups a row.
  EXPECT_EQ(bytesSavedAgainstBf16({256, 300}, "fp8"),
            2 * 256 * 300 - (256 * 300 + 4 * 2 * 3));
  EXPECT_EQ(bytesSavedAgainstBf16({256, 300}, "int4"),
            2 * 256 * 300 - (256 * 300 / 2 + 4 * 256 * 3));
  EXPECT_EQ(bytesSavedAgainstBf16({256, 300}, "bf16"), 0);
}

} // namespace
} // namespace kiln::models
