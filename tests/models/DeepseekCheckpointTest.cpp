//===- DeepseekCheckpointTest.cpp - DeepSeek-V3 checkpoints both ways
//------===//
//
// Hugging Face files -> Kiln state (per-expert tensors stacked) -> Hugging
// Face files again, single and sharded, bit for bit; and checkpoints that do
// not fit the config fail naming the tensor, leaving the state untouched.
//
//===----------------------------------------------------------------------===//

#include <cstring>
#include <filesystem>
#include <fstream>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "executor/Safetensors.h"
#include "models/deepseek/DeepseekModel.h"
#include "models/deepseek/HfCheckpoint.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";

DeepseekV3Config fixtureConfig() {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DeepseekV3Config{};
}

std::unique_ptr<Executor> compileModel(const DeepseekV3Config &config) {
  Graph graph("deepseek_checkpoint");
  DeepseekV3Model model(graph, config, DType::f32, /*seed=*/7);
  Function &fn = graph.function("logits");
  fn.output("logits",
            model.logits(fn, fn.input("input_ids", {1, 4}, DType::i64)));
  auto module = graph.build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  EXPECT_TRUE((*executor)->initializeState().ok());
  return std::move(*executor);
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

TEST(DeepseekCheckpoint, StateNamesAreTheMapping) {
  DeepseekV3Config config = fixtureConfig();
  auto executor = compileModel(config);
  std::vector<std::string> names = executor->stateNames();
  std::sort(names.begin(), names.end());
  std::vector<std::string> want;
  for (const auto &entry : deepseekStateEntries(config))
    want.push_back(entry.name);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);
}

TEST(DeepseekCheckpoint, RoundTripInHuggingFaceLayout) {
  DeepseekV3Config config = fixtureConfig();
  auto original = readSafetensors(kFixtures + "model.safetensors");
  ASSERT_TRUE(original.ok()) << original.status();

  auto executor = compileModel(config);
  ASSERT_TRUE(loadHfCheckpoint(*executor, config, kFixtures).ok());
  // Stacking put expert e's Linear weight at row e.
  auto stacked = executor->getState("model.layers.2.mlp.experts.up_proj");
  ASSERT_TRUE(stacked.ok());
  const HostTensor &expert5 =
      original->tensors.at("model.layers.2.mlp.experts.5.up_proj.weight");
  EXPECT_EQ(std::memcmp(static_cast<const uint8_t *>(stacked->data()) +
                            5 * expert5.byteSize(),
                        expert5.data(), expert5.byteSize()),
            0);

  // A folder that cannot be made says why.
  absl::Status noFolder = saveHfCheckpoint(*executor, config, "/dev/null/ckpt");
  ASSERT_FALSE(noFolder.ok());
  EXPECT_NE(noFolder.message().find("/dev/null/ckpt': Not a directory"),
            std::string::npos)
      << noFolder;

  std::string single = freshDir("deepseek-single");
  ASSERT_TRUE(saveHfCheckpoint(*executor, config, single).ok());
  auto saved = readSafetensors(single + "/model.safetensors");
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->tensors.size(), original->tensors.size());
  for (const auto &[name, tensor] : original->tensors) {
    auto it = saved->tensors.find(name);
    ASSERT_NE(it, saved->tensors.end()) << name << " was not saved";
    EXPECT_TRUE(sameBits(tensor, it->second)) << name;
  }
  auto savedConfig = readDeepseekV3Config(single + "/config.json");
  ASSERT_TRUE(savedConfig.ok()) << savedConfig.status();
  EXPECT_EQ(savedConfig->toJson(), config.toJson());

  // Sharded: many files plus an index, loaded into a model with other weights.
  std::string sharded = freshDir("deepseek-sharded");
  ASSERT_TRUE(saveHfCheckpoint(*executor, config, sharded, 40000).ok());
  EXPECT_TRUE(fs::exists(sharded + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(sharded + "/model.safetensors"));
  auto other = compileModel(config);
  ASSERT_TRUE(loadHfCheckpoint(*other, config, sharded).ok());
  for (const std::string &name : executor->stateNames())
    EXPECT_TRUE(sameBits(*executor->getState(name), *other->getState(name)))
        << name;
}

TEST(DeepseekCheckpoint, FusedExpertLayoutLoadsToo) {
  // transformers' in-memory layout: gate_up_proj [E, 2I, H], down_proj
  // [E, H, I] per layer.
  DeepseekV3Config config = fixtureConfig();
  auto original = readSafetensors(kFixtures + "model.safetensors");
  ASSERT_TRUE(original.ok()) << original.status();
  std::map<std::string, HostTensor> fused;
  int64_t e = config.nRoutedExperts, i = config.moeIntermediateSize,
          h = config.hiddenSize;
  for (const auto &[name, t] : original->tensors)
    if (name.find(".mlp.experts.") == std::string::npos)
      fused[name] = t;
  for (int64_t layer = 1; layer < config.numHiddenLayers; ++layer) {
    std::string p = "model.layers." + std::to_string(layer) + ".mlp.experts.";
    HostTensor gateUp(proto::F32, {e, 2 * i, h}), down(proto::F32, {e, h, i});
    for (int64_t x = 0; x < e; ++x) {
      std::string q = p + std::to_string(x) + ".";
      auto *gu = static_cast<uint8_t *>(gateUp.data()) + x * 2 * i * h * 4;
      std::memcpy(gu, original->tensors.at(q + "gate_proj.weight").data(),
                  i * h * 4);
      std::memcpy(gu + i * h * 4,
                  original->tensors.at(q + "up_proj.weight").data(), i * h * 4);
      std::memcpy(static_cast<uint8_t *>(down.data()) + x * h * i * 4,
                  original->tensors.at(q + "down_proj.weight").data(),
                  h * i * 4);
    }
    fused[p + "gate_up_proj"] = gateUp;
    fused[p + "down_proj"] = down;
  }
  auto fromFused = hfToKilnState(config, fused, proto::F32);
  ASSERT_TRUE(fromFused.ok()) << fromFused.status();
  auto fromPerExpert = hfToKilnState(config, original->tensors, proto::F32);
  ASSERT_TRUE(fromPerExpert.ok()) << fromPerExpert.status();
  ASSERT_EQ(fromFused->size(), fromPerExpert->size());
  for (const auto &[name, t] : *fromPerExpert)
    EXPECT_TRUE(sameBits(t, fromFused->at(name))) << name;
}

TEST(DeepseekCheckpoint, MismatchedCheckpointsNameTheTensor) {
  DeepseekV3Config config = fixtureConfig();
  auto original = readSafetensors(kFixtures + "model.safetensors");
  ASSERT_TRUE(original.ok()) << original.status();
  auto executor = compileModel(config);
  HostTensor before =
      *executor->getState("model.layers.1.mlp.experts.gate_proj");

  auto writeVariant = [&](const std::string &dirName, auto edit) {
    std::map<std::string, HostTensor> tensors = original->tensors;
    edit(tensors);
    std::vector<std::pair<std::string, HostTensor>> list(tensors.begin(),
                                                         tensors.end());
    std::string dir = freshDir(dirName);
    EXPECT_TRUE(writeSafetensors(dir + "/model.safetensors", list).ok());
    return dir;
  };
  auto expectNamed = [&](const std::string &dir, const std::string &name) {
    absl::Status status = loadHfCheckpoint(*executor, config, dir);
    ASSERT_FALSE(status.ok()) << "accepted " << dir;
    std::printf("rejected as expected: %s\n",
                std::string(status.message()).c_str());
    EXPECT_NE(std::string(status.message()).find(name), std::string::npos)
        << status;
    EXPECT_TRUE(sameBits(
        before, *executor->getState("model.layers.1.mlp.experts.gate_proj")));
  };

  const std::string wrongShape =
      "model.layers.1.mlp.experts.3.gate_proj.weight";
  expectNamed(writeVariant("deepseek-shape",
                           [&](auto &t) {
                             t[wrongShape] = HostTensor(proto::F32, {16, 31});
                           }),
              wrongShape);
  const std::string dropped = "model.layers.2.mlp.experts.6.down_proj.weight";
  expectNamed(
      writeVariant("deepseek-missing", [&](auto &t) { t.erase(dropped); }),
      dropped);
  const std::string extra = "model.layers.0.mlp.experts.0.gate_proj.weight";
  expectNamed(writeVariant("deepseek-extra",
                           [&](auto &t) {
                             t[extra] = HostTensor(proto::F32, {16, 32});
                           }),
              extra);
  // A checkpoint of another config: its config.json says so.
  DeepseekV3Config wider = config;
  wider.kvLoraRank = 32;
  std::string otherDir = freshDir("deepseek-other-config");
  fs::copy_file(kFixtures + "model.safetensors",
                otherDir + "/model.safetensors");
  std::ofstream(otherDir + "/config.json") << wider.toJson();
  expectNamed(otherDir, "kv_lora_rank");
  // Multi-token-prediction layers are skipped, as transformers does.
  std::string mtp = writeVariant("deepseek-mtp", [&](auto &t) {
    t["model.layers.3.eh_proj.weight"] = HostTensor(proto::F32, {32, 64});
  });
  EXPECT_TRUE(loadHfCheckpoint(*executor, config, mtp).ok());
}

} // namespace
} // namespace kiln::models
