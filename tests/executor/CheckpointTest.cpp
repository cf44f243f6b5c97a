// Executor checkpoints: state saved and restored bit-exactly through
// safetensors, and loads that would not fit the state (types, missing,
// unexpected) refused untouched.
#include <cstring>
#include <filesystem>
#include <random>

#include "TestUtil.h"
#include "executor/Checkpoint.h"
#include "executor/Executor.h"
#include "executor/Safetensors.h"

namespace kiln {
namespace {
using namespace test;
namespace fs = std::filesystem;

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

/// State: a bf16 parameter, an i64 step counter, and a cache with no
/// initializer.
proto::Executable checkpointExe() {
  proto::Executable exe;
  exe.set_target("host");
  exe.set_compiler_version("kiln-test-0.1");
  proto::StateEntry *w = exe.add_state();
  w->set_name("model.layers.0.mlp.weight");
  *w->mutable_type() = tt(proto::BF16, {2, 3});
  w->set_kind("parameter");
  proto::StateEntry *step = exe.add_state();
  step->set_name("optimizer.step");
  *step->mutable_type() = tt(proto::I64, {});
  step->set_kind("optimizer");
  proto::StateEntry *cache = exe.add_state();
  cache->set_name("cache");
  *cache->mutable_type() = tt(proto::F32, {4});
  cache->set_kind("cache");
  return exe;
}

std::unique_ptr<Executor> makeExecutor() {
  absl::StatusOr<std::unique_ptr<Executor>> e =
      Executor::create(checkpointExe());
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

HostTensor randomBf16() {
  HostTensor t(proto::BF16, {2, 3});
  std::uniform_int_distribution<int> bits(0, 0xffff);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.data<uint16_t>()[i] = static_cast<uint16_t>(bits(rng()));
  return t;
}

void expectSameBits(const HostTensor &a, const HostTensor &b) {
  ASSERT_EQ(a.typeString(), b.typeString());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.byteSize()), 0);
}

class CheckpointTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_checkpoint_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    exec_ = makeExecutor();
    w_ = randomBf16();
    step_ = ints(proto::I64, {}, {123456789012345});
    ASSERT_TRUE(exec_->setState("model.layers.0.mlp.weight", w_).ok());
    ASSERT_TRUE(exec_->setState("optimizer.step", step_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const {
    return (dir_ / name).string();
  }

  /// Asserts the fresh executor still holds `w` and `step` exactly.
  void expectState(Executor &e, const HostTensor &w, const HostTensor &step) {
    absl::StatusOr<HostTensor> gw = e.getState("model.layers.0.mlp.weight");
    absl::StatusOr<HostTensor> gs = e.getState("optimizer.step");
    ASSERT_TRUE(gw.ok() && gs.ok());
    expectSameBits(*gw, w);
    expectSameBits(*gs, step);
  }

  fs::path dir_;
  std::unique_ptr<Executor> exec_;
  HostTensor w_, step_;
};

TEST_F(CheckpointTest, SaveThenLoadIntoAFreshExecutorIsBitExact) {
  std::string p = path("ckpt.safetensors");
  ASSERT_TRUE(saveCheckpoint(*exec_, p, {{"run", "grpo-7"}}).ok());

  absl::StatusOr<SafetensorsFile> file = readSafetensors(p);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors.size(), 2u); // the unset cache is not saved
  EXPECT_EQ(file->metadata.at("kiln.format"), "kiln-checkpoint-1");
  EXPECT_EQ(file->metadata.at("kiln.compiler_version"), "kiln-test-0.1");

  std::unique_ptr<Executor> fresh = makeExecutor();
  CheckpointLoadOptions opts;
  opts.allowMissing = true; // the cache
  absl::StatusOr<std::map<std::string, std::string>> meta =
      loadCheckpoint(*fresh, p, opts);
  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->at("run"), "grpo-7");
  EXPECT_EQ(meta->at("kiln.format"), "kiln-checkpoint-1");
  expectState(*fresh, w_, step_);
  EXPECT_FALSE(fresh->getState("cache").ok());

  // Without allowMissing the unset cache is an error naming it.
  std::unique_ptr<Executor> strict = makeExecutor();
  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*strict, p);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status(), "missing from the file: 'cache'"))
      << r.status();
  EXPECT_FALSE(strict->getState("model.layers.0.mlp.weight").ok());

  // With every entry set, a strict load works and the file round-trips all
  // three.
  ASSERT_TRUE(exec_
                  ->setState("cache", HostTensor::fromDoubles(proto::F32, {4},
                                                              {1, 2, 3, 4}))
                  .ok());
  ASSERT_TRUE(saveCheckpoint(*exec_, p).ok());
  r = loadCheckpoint(*strict, p);
  ASSERT_TRUE(r.ok()) << r.status();
  expectState(*strict, w_, step_);
  EXPECT_EQ(strict->getState("cache")->toDoubles(),
            (std::vector<double>{1, 2, 3, 4}));
}

// kiln-train's checkpoints skip the KV caches (rollout scratch sized by the
// per-rank batch), so a data-parallel run's checkpoint loads at any world
// size.
TEST_F(CheckpointTest, SkippedKindsAreNeitherWrittenNorRead) {
  ASSERT_TRUE(exec_
                  ->setState("cache", HostTensor::fromDoubles(proto::F32, {4},
                                                              {1, 2, 3, 4}))
                  .ok());
  std::string p = path("no-cache.safetensors");
  CheckpointSaveOptions save;
  save.skipKinds = {"cache"};
  ASSERT_TRUE(saveCheckpoint(*exec_, p, {}, save).ok());
  absl::StatusOr<SafetensorsFile> file = readSafetensors(p);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tensors.count("cache"), 0u);
  EXPECT_EQ(file->tensors.size(), 2u);

  // Strict about everything else: the cache keeps its value.
  CheckpointLoadOptions load;
  load.skipKinds = {"cache"};
  std::unique_ptr<Executor> fresh = makeExecutor();
  ASSERT_TRUE(fresh
                  ->setState("cache", HostTensor::fromDoubles(proto::F32, {4},
                                                              {9, 9, 9, 9}))
                  .ok());
  ASSERT_TRUE(loadCheckpoint(*fresh, p, load).ok());
  expectState(*fresh, w_, step_);
  EXPECT_EQ(fresh->getState("cache")->toDoubles(),
            (std::vector<double>{9, 9, 9, 9}));

  // A cache of another shape in the file (another batch) is ignored too,
  // but a missing parameter is still an error.
  std::vector<std::pair<std::string, HostTensor>> tensors = {
      {"model.layers.0.mlp.weight", w_},
      {"optimizer.step", step_},
      {"cache", HostTensor::fromDoubles(proto::F32, {2}, {5, 6})}};
  ASSERT_TRUE(
      writeSafetensors(p, tensors, {{"kiln.format", kCheckpointFormat}}).ok());
  ASSERT_TRUE(loadCheckpoint(*fresh, p, load).ok());
  EXPECT_EQ(fresh->getState("cache")->toDoubles(),
            (std::vector<double>{9, 9, 9, 9}));
  tensors.erase(tensors.begin());
  ASSERT_TRUE(
      writeSafetensors(p, tensors, {{"kiln.format", kCheckpointFormat}}).ok());
  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*fresh, p, load);
  EXPECT_TRUE(contains(r.status(), "missing from the file: "
                                   "'model.layers.0.mlp.weight'"))
      << r.status();
}

TEST_F(CheckpointTest, WrongTypesLeaveStateUnchanged) {
  std::string p = path("bad.safetensors");
  // The step is right, the weight has the wrong shape: nothing may change, not
  // even step.
  HostTensor newStep = ints(proto::I64, {}, {1});
  ASSERT_TRUE(writeSafetensors(p, {{"model.layers.0.mlp.weight",
                                    HostTensor(proto::BF16, {3, 2})},
                                   {"optimizer.step", newStep}})
                  .ok());
  CheckpointLoadOptions opts;
  opts.allowMissing = true;
  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*exec_, p, opts);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(contains(
      r.status(), "'model.layers.0.mlp.weight' expects bf16[2,3], file has "
                  "bf16[3,2]"))
      << r.status();
  EXPECT_TRUE(contains(r.status(), "state unchanged")) << r.status();
  expectState(*exec_, w_, step_);

  // Wrong dtype, same shape.
  ASSERT_TRUE(writeSafetensors(p, {{"model.layers.0.mlp.weight",
                                    HostTensor(proto::F32, {2, 3})},
                                   {"optimizer.step", newStep}})
                  .ok());
  r = loadCheckpoint(*exec_, p, opts);
  EXPECT_TRUE(contains(r.status(), "expects bf16[2,3], file has f32[2,3]"))
      << r.status();
  expectState(*exec_, w_, step_);
}

TEST_F(CheckpointTest, MissingAndUnexpectedTensors) {
  std::string p = path("partial.safetensors");
  HostTensor newStep = ints(proto::I64, {}, {99});
  HostTensor extra = HostTensor::fromDoubles(proto::F32, {2}, {1, 2});
  ASSERT_TRUE(writeSafetensors(
                  p, {{"optimizer.step", newStep}, {"lm_head.weight", extra}})
                  .ok());

  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*exec_, p);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status(), "'model.layers.0.mlp.weight', 'cache'"))
      << r.status();
  EXPECT_TRUE(contains(r.status(), "no state entry: 'lm_head.weight'"))
      << r.status();
  expectState(*exec_, w_, step_);

  CheckpointLoadOptions missingOnly;
  missingOnly.allowMissing = true;
  r = loadCheckpoint(*exec_, p, missingOnly);
  EXPECT_TRUE(contains(r.status(), "'lm_head.weight'")) << r.status();
  EXPECT_FALSE(contains(r.status(), "missing")) << r.status();
  expectState(*exec_, w_, step_);

  CheckpointLoadOptions both;
  both.allowMissing = both.allowUnexpected = true;
  r = loadCheckpoint(*exec_, p, both);
  ASSERT_TRUE(r.ok()) << r.status();
  expectState(*exec_, w_,
              newStep); // the weight kept its value, the step was loaded
}

TEST_F(CheckpointTest, ForeignFormatAndBadFilesAreErrors) {
  std::string p = path("other.safetensors");
  ASSERT_TRUE(writeSafetensors(p, {{"optimizer.step", step_}},
                               {{"kiln.format", "kiln-checkpoint-9"}})
                  .ok());
  CheckpointLoadOptions lenient;
  lenient.allowMissing = lenient.allowUnexpected = true;
  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*exec_, p, lenient);
  EXPECT_TRUE(contains(r.status(), "kiln-checkpoint-9")) << r.status();

  r = loadCheckpoint(*exec_, path("absent.safetensors"));
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  r = loadCheckpoint(*exec_, path("")); // the empty folder
  EXPECT_TRUE(contains(r.status(), "neither")) << r.status();
  expectState(*exec_, w_, step_);
}

TEST_F(CheckpointTest, LoadsShardedCheckpointsByFolderOrIndex) {
  ASSERT_TRUE(exec_
                  ->setState("cache", HostTensor::fromDoubles(proto::F32, {4},
                                                              {4, 3, 2, 1}))
                  .ok());
  std::vector<std::pair<std::string, HostTensor>> tensors;
  for (const std::string &name : exec_->stateNames())
    tensors.emplace_back(name, *exec_->getState(name));
  ASSERT_TRUE(writeSafetensorsSharded(dir_.string(), "model", tensors, 12,
                                      {{"kiln.format", kCheckpointFormat}})
                  .ok());
  ASSERT_TRUE(fs::exists(path("model.safetensors.index.json")));

  std::unique_ptr<Executor> fresh = makeExecutor();
  absl::StatusOr<std::map<std::string, std::string>> r =
      loadCheckpoint(*fresh, dir_.string());
  ASSERT_TRUE(r.ok()) << r.status();
  expectState(*fresh, w_, step_);
  std::unique_ptr<Executor> fresh2 = makeExecutor();
  r = loadCheckpoint(*fresh2, path("model.safetensors.index.json"));
  ASSERT_TRUE(r.ok()) << r.status();
  expectState(*fresh2, w_, step_);
  EXPECT_EQ(fresh2->getState("cache")->toDoubles(),
            (std::vector<double>{4, 3, 2, 1}));
}

} // namespace
} // namespace kiln
