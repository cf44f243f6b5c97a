//===- DeepseekExpertsTest.cpp - DeepSeek-V3 experts as modules ----------===//
//
// Frozen experts stay bit-identical through training while the rest learn;
// replaceExpert copies one expert from another checkpoint bit for bit and
// changes nothing when that checkpoint does not fit; utilisation fractions.
//
//===----------------------------------------------------------------------===//

#include <cstring>
#include <filesystem>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/Safetensors.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/DeepseekTrain.h"
#include "models/deepseek/ExpertModularity.h"
#include "models/deepseek/HfCheckpoint.h"
#include "tests/models/DeepseekTrainFixture.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";
const char *const kProjs[] = {"gate_proj", "up_proj", "down_proj"};

DeepseekTrainOptions fixtureOptions() {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  DeepseekTrainOptions o;
  o.model = c.ok() ? *c : DeepseekV3Config{};
  o.seed = 7;
  o.batch = 2;
  o.seqLen = 6;
  o.peakLr = 1e-2;
  return o;
}

std::unique_ptr<Executor> start(const DeepseekTrainOptions &o) {
  return startDeepseekTrain(o);
}

std::map<std::string, HostTensor>
trainStep(Executor &executor, const DeepseekTrainOptions &o, uint64_t seed) {
  auto out = executor.runNamed("train_step", randomTrainBatch(o, seed));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::map<std::string, HostTensor>{};
}

std::string stack(int64_t layer, const std::string &proj) {
  return "model.layers." + std::to_string(layer) + ".mlp.experts." + proj;
}

/// Row `row` of a stacked tensor, as bytes.
std::string rowBytes(const HostTensor &t, int64_t row) {
  int64_t bytes = t.byteSize() / t.dim(0);
  return std::string(static_cast<const char *>(t.data()) + row * bytes, bytes);
}

std::map<std::string, HostTensor> snapshot(const Executor &executor) {
  std::map<std::string, HostTensor> out;
  for (const std::string &name : executor.stateNames())
    out[name] = executor.getState(name)->clone();
  return out;
}

bool sameBits(const HostTensor &a, const HostTensor &b) {
  return a.typeString() == b.typeString() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

std::string freshDir(const std::string &name) {
  std::string dir = ::testing::TempDir() + "/" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(DeepseekExperts, FrozenExpertsStayBitIdentical) {
  DeepseekTrainOptions o = fixtureOptions();
  // Two experts of layer 1 and every expert of layer 2.
  o.frozenExperts = {{1, 0}, {1, 3}};
  for (int64_t e = 0; e < o.model.nRoutedExperts; ++e)
    o.frozenExperts.push_back({2, e});
  auto executor = start(o);
  ASSERT_NE(executor, nullptr);
  int64_t experts = o.model.nRoutedExperts;

  // Frozen experts have no moments: layer 1's are compact, layer 2 has none.
  for (const char *proj : kProjs) {
    auto m = executor->getState(stack(1, proj) + ".exp_avg");
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->dim(0), experts - 2);
    EXPECT_FALSE(executor->getState(stack(2, proj) + ".exp_avg").ok());
  }

  auto before = snapshot(*executor);
  for (uint64_t step = 0; step < 4; ++step)
    trainStep(*executor, o, 10 + step);
  auto after = snapshot(*executor);
  for (const char *proj : kProjs) {
    const HostTensor &b1 = before.at(stack(1, proj)),
                     &a1 = after.at(stack(1, proj));
    for (int64_t e = 0; e < experts; ++e) {
      bool frozen = e == 0 || e == 3;
      EXPECT_EQ(rowBytes(a1, e) == rowBytes(b1, e), frozen)
          << stack(1, proj) << " expert " << e;
    }
    EXPECT_TRUE(sameBits(before.at(stack(2, proj)), after.at(stack(2, proj))))
        << stack(2, proj);
  }
  // Everything else still trains, the router of the frozen layer included.
  EXPECT_FALSE(sameBits(before.at("model.layers.2.mlp.gate.weight"),
                        after.at("model.layers.2.mlp.gate.weight")));
  EXPECT_FALSE(
      sameBits(before.at("lm_head.weight"), after.at("lm_head.weight")));

  // The gradient entry reports zero rows for frozen experts.
  auto grads = executor->runNamed("grads", randomTrainBatch(o, 99));
  ASSERT_TRUE(grads.ok()) << grads.status();
  std::vector<double> g =
      grads->at("grad." + stack(1, "gate_proj")).toDoubles();
  int64_t rowSize = static_cast<int64_t>(g.size()) / experts;
  for (int64_t i = 0; i < rowSize; ++i) {
    EXPECT_EQ(g[0 * rowSize + i], 0.0);
    EXPECT_EQ(g[3 * rowSize + i], 0.0);
  }
  EXPECT_EQ(grads->count("grad." + stack(2, "gate_proj")), 0u);
}

TEST(DeepseekExperts, FrozenExpertsOfBf16StackKeepTheirBitsAndMaster) {
  // bf16 weights train through f32 masters; the frozen rows of both stay.
  DeepseekTrainOptions o = fixtureOptions();
  o.dtype = DType::bf16;
  o.frozenExperts = {{2, 4}};
  auto executor = start(o);
  ASSERT_NE(executor, nullptr);
  auto init = executor->runNamed(optim::kInitMasterEntry, {});
  ASSERT_TRUE(init.ok()) << init.status();
  auto before = snapshot(*executor);
  for (uint64_t step = 0; step < 3; ++step)
    trainStep(*executor, o, 50 + step);
  auto after = snapshot(*executor);
  for (const char *proj : kProjs)
    for (const std::string &name : {stack(2, proj), stack(2, proj) + ".master"})
      for (int64_t e = 0; e < o.model.nRoutedExperts; ++e)
        EXPECT_EQ(rowBytes(after.at(name), e) == rowBytes(before.at(name), e),
                  e == 4)
            << name << " expert " << e;
}

TEST(DeepseekExperts, FrozenTrainingMatchesPlainTrainingOnOtherExperts) {
  // Freezing an expert no token reaches changes nothing else: the compact
  // AdamW path does torch's arithmetic exactly as optim::AdamW does.
  DeepseekTrainOptions plain = fixtureOptions();
  plain.adam.weightDecay = 0; // an unreached expert then never moves
  plain.clipNorm = 1e9;       // and the norm it does not add is moot
  auto a = start(plain);
  auto first = trainStep(*a, plain, 20);
  // An expert of layer 1 with zero load in the first step.
  std::vector<double> load = first.at(expertLoadName(1)).toDoubles();
  int64_t idle = -1;
  for (int64_t e = 0; e < plain.model.nRoutedExperts; ++e)
    if (load[e] == 0)
      idle = e;
  if (idle < 0)
    GTEST_SKIP() << "every expert of layer 1 got tokens in this batch";
  DeepseekTrainOptions frozen = plain;
  frozen.frozenExperts = {{1, idle}};
  auto b = start(frozen);
  trainStep(*b, frozen, 20);
  auto sa = snapshot(*a), sb = snapshot(*b);
  for (const char *proj : kProjs)
    EXPECT_TRUE(sameBits(sa.at(stack(1, proj)), sb.at(stack(1, proj))))
        << stack(1, proj);
  EXPECT_TRUE(sameBits(sa.at("lm_head.weight"), sb.at("lm_head.weight")));
}

TEST(DeepseekExperts, ReplaceExpertCopiesSlicesBitExactly) {
  DeepseekTrainOptions o = fixtureOptions();
  auto target = start(o);
  // A step so AdamW's moments of the stacks are non-zero.
  trainStep(*target, o, 30);
  DeepseekTrainOptions otherOptions = o;
  otherOptions.seed = 1234;
  auto other = start(otherOptions);
  std::string dir = freshDir("deepseek_replace_expert");
  ASSERT_TRUE(saveHfCheckpoint(*other, o.model, dir).ok());

  auto before = snapshot(*target);
  ASSERT_TRUE(replaceExpert(*target, o.model, 1, 2, dir, 5).ok());
  auto after = snapshot(*target);
  for (const char *proj : kProjs) {
    std::string name = stack(1, proj);
    HostTensor source = *other->getState(name);
    for (int64_t e = 0; e < o.model.nRoutedExperts; ++e)
      EXPECT_EQ(rowBytes(after.at(name), e),
                e == 2 ? rowBytes(source, 5) : rowBytes(before.at(name), e))
          << name << " expert " << e;
    // The replaced expert's moments start afresh; the others' are kept.
    for (const char *moment : {".exp_avg", ".exp_avg_sq"}) {
      const HostTensor &m = after.at(name + moment);
      EXPECT_EQ(rowBytes(m, 2), std::string(m.byteSize() / m.dim(0), '\0'));
      EXPECT_EQ(rowBytes(m, 1), rowBytes(before.at(name + moment), 1));
    }
  }
  for (const auto &[name, t] : before)
    if (name.find("model.layers.1.mlp.experts.") == std::string::npos)
      EXPECT_TRUE(sameBits(t, after.at(name))) << name;

  // Same expert number by default, and from the single-file path too.
  ASSERT_TRUE(
      replaceExpert(*target, o.model, 2, 7, dir + "/model.safetensors").ok());
  EXPECT_EQ(rowBytes(*target->getState(stack(2, "down_proj")), 7),
            rowBytes(*other->getState(stack(2, "down_proj")), 7));
}

TEST(DeepseekExperts, MismatchedCheckpointChangesNothing) {
  DeepseekTrainOptions o = fixtureOptions();
  auto target = start(o);
  auto before = snapshot(*target);
  auto unchanged = [&] {
    auto now = snapshot(*target);
    for (const auto &[name, t] : before)
      EXPECT_TRUE(sameBits(t, now.at(name))) << name;
  };

  // Another model: experts of another intermediate size.
  DeepseekTrainOptions narrow = o;
  narrow.model.moeIntermediateSize = 8;
  auto small = start(narrow);
  std::string dir = freshDir("deepseek_replace_narrow");
  ASSERT_TRUE(saveHfCheckpoint(*small, narrow.model, dir).ok());
  absl::Status st = replaceExpert(*target, o.model, 1, 2, dir);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("model.layers.1.mlp.experts.2.gate_proj.weight"),
            std::string::npos)
      << st;
  unchanged();

  // Gate and up fit but down_proj is missing: the good two must not land.
  HostTensor gate(proto::F32,
                  {o.model.moeIntermediateSize, o.model.hiddenSize});
  HostTensor up = gate;
  for (int64_t i = 0; i < gate.numElements(); ++i)
    gate.setDouble(i, 0.5);
  std::string partial =
      freshDir("deepseek_replace_partial") + "/model.safetensors";
  ASSERT_TRUE(
      writeSafetensors(partial,
                       {{"model.layers.1.mlp.experts.2.gate_proj.weight", gate},
                        {"model.layers.1.mlp.experts.2.up_proj.weight", up}})
          .ok());
  st = replaceExpert(*target, o.model, 1, 2, partial);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("model.layers.1.mlp.experts.2.down_proj.weight"),
            std::string::npos)
      << st;
  unchanged();

  // Bad coordinates and a missing path.
  EXPECT_FALSE(replaceExpert(*target, o.model, 0, 2, dir).ok()); // dense layer
  EXPECT_FALSE(replaceExpert(*target, o.model, 1, 8, dir).ok());
  EXPECT_FALSE(replaceExpert(*target, o.model, 1, 2, dir, 99).ok());
  EXPECT_FALSE(replaceExpert(*target, o.model, 1, 2, dir + "/nope").ok());
  unchanged();
}

TEST(DeepseekExperts, UtilisationFractionsSumToOne) {
  DeepseekTrainOptions o = fixtureOptions();
  auto executor = start(o);
  ExpertUtilisation usage(o.model);
  const int steps = 3;
  for (int step = 0; step < steps; ++step)
    ASSERT_TRUE(usage.add(trainStep(*executor, o, 40 + step)).ok());
  ASSERT_EQ(usage.layers(), (std::vector<int64_t>{1, 2}));
  for (int64_t l : usage.layers()) {
    double count = 0, fraction = 0;
    for (double c : usage.counts(l))
      count += c;
    for (double f : usage.fractions(l))
      fraction += f;
    EXPECT_EQ(count, steps * o.batch * o.seqLen * o.model.numExpertsPerTok);
    EXPECT_NEAR(fraction, 1.0, 1e-12);
  }
  std::string table = usage.table();
  std::printf("%s", table.c_str());
  EXPECT_NE(table.find("max/mean"), std::string::npos);
  EXPECT_FALSE(usage.add(1, HostTensor(proto::F32, {3})).ok());
  EXPECT_FALSE(usage.add(0, HostTensor(proto::F32, {8})).ok());
}

} // namespace
} // namespace kiln::models
