//===- TinyLmTrainTest.cpp - training a transformer LM on the CPU executor -===//
//
// The autodiff issue's end-to-end checks: a small transformer language model
// written in the frontend trains with one compiled train step and its loss falls;
// stopping, checkpointing and resuming is bit-identical to running straight
// through; rematerialisation leaves gradients unchanged and lowers peak memory.
//
//===----------------------------------------------------------------------===//

#include <cstring>
#include <filesystem>

#include "codegen/Compile.h"
#include "executor/Checkpoint.h"
#include "executor/Executor.h"
#include "models/tinylm/TinyLmTrain.h"

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

proto::Executable compileTrainGraph(const TinyLmTrainOptions &options) {
  Graph graph = buildTinyLmTrainGraph(options);
  auto module = graph.build();
  EXPECT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  EXPECT_TRUE(exe.ok()) << exe.status();
  return *exe;
}

std::unique_ptr<Executor> start(const proto::Executable &exe) {
  auto executor = Executor::create(exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  EXPECT_TRUE((*executor)->initializeState().ok());
  return std::move(*executor);
}

std::vector<HostTensor> batchTensors(const TinyLmConfig &c, uint64_t seed) {
  TokenBatch batch = countingBatch(c, seed);
  HostTensor tokens(proto::I64, {c.batch, c.seqLen}), targets(proto::I64, {c.batch, c.seqLen});
  std::memcpy(tokens.data(), batch.tokens.data(), tokens.byteSize());
  std::memcpy(targets.data(), batch.targets.data(), targets.byteSize());
  return {tokens, targets};
}

double runStep(Executor &executor, const TinyLmConfig &c, uint64_t step) {
  auto results = executor.run("train_step", batchTensors(c, 1000 + step));
  EXPECT_TRUE(results.ok()) << results.status();
  return results.ok() ? (*results)[0].toDoubles()[0] : NAN;
}

double evalLoss(Executor &executor, const TinyLmConfig &c) {
  double total = 0;
  for (uint64_t seed : {1, 2, 3}) {
    auto results = executor.run("eval_loss", batchTensors(c, seed));
    EXPECT_TRUE(results.ok()) << results.status();
    total += results.ok() ? (*results)[0].toDoubles()[0] : NAN;
  }
  return total / 3;
}

bool sameBits(const HostTensor &a, const HostTensor &b) {
  return a.typeString() == b.typeString() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

TEST(TinyLmTrain, LossFalls) {
  TinyLmTrainOptions options;
  options.totalSteps = 60;
  proto::Executable exe = compileTrainGraph(options);
  auto executor = start(exe);
  double before = evalLoss(*executor, options.model);
  EXPECT_NEAR(before, std::log(16.0), 1.0); // near uniform at initialisation
  for (int step = 0; step < options.totalSteps; ++step)
    runStep(*executor, options.model, step);
  double after = evalLoss(*executor, options.model);
  std::printf("held-out loss: %.4f before, %.4f after %lld steps\n", before, after,
              static_cast<long long>(options.totalSteps));
  EXPECT_LT(after, 1.0);
  EXPECT_LT(after, 0.5 * before);
}

TEST(TinyLmTrain, ResumeIsBitIdentical) {
  TinyLmTrainOptions options;
  const int n = 6;
  proto::Executable exe = compileTrainGraph(options);

  auto straight = start(exe);
  std::vector<double> lossesStraight;
  for (int step = 0; step < n; ++step)
    lossesStraight.push_back(runStep(*straight, options.model, step));

  auto first = start(exe);
  std::vector<double> lossesResumed;
  for (int step = 0; step < n / 2; ++step)
    lossesResumed.push_back(runStep(*first, options.model, step));
  std::string path = ::testing::TempDir() + "/tinylm-resume.safetensors";
  ASSERT_TRUE(saveCheckpoint(*first, path, {{"step", std::to_string(n / 2)}}).ok());
  first.reset();

  auto executor = Executor::create(exe);
  ASSERT_TRUE(executor.ok());
  auto resumed = std::move(*executor);
  auto metadata = loadCheckpoint(*resumed, path);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  int start = std::stoi(metadata->at("step"));
  for (int step = start; step < n; ++step)
    lossesResumed.push_back(runStep(*resumed, options.model, step));

  EXPECT_EQ(lossesStraight, lossesResumed);
  for (const std::string &name : straight->stateNames()) {
    auto a = straight->getState(name), b = resumed->getState(name);
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    EXPECT_TRUE(sameBits(*a, *b)) << name << " differs after resuming";
  }
}

TEST(TinyLmTrain, CheckpointOfAnotherModelIsRejected) {
  TinyLmTrainOptions small, wide;
  wide.model.dim = 48;
  auto a = start(compileTrainGraph(small));
  std::string path = ::testing::TempDir() + "/tinylm-wide.safetensors";
  ASSERT_TRUE(saveCheckpoint(*start(compileTrainGraph(wide)), path).ok());
  HostTensor before = *a->getState("lm_head.weight");
  auto loaded = loadCheckpoint(*a, path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(std::string(loaded.status().message()).find("lm_head.weight"),
            std::string::npos)
      << loaded.status();
  EXPECT_TRUE(sameBits(before, *a->getState("lm_head.weight")));
}

TEST(TinyLmTrain, RematerialisationKeepsGradientsAndLowersPeakMemory) {
  TinyLmTrainOptions plain, remat;
  plain.model.layers = remat.model.layers = 3;
  remat.model.remat = true;
  proto::Executable plainExe = compileTrainGraph(plain);
  proto::Executable rematExe = compileTrainGraph(remat);
  auto a = start(plainExe), b = start(rematExe);
  auto ga = a->run("grads", batchTensors(plain.model, 7));
  auto gb = b->run("grads", batchTensors(remat.model, 7));
  ASSERT_TRUE(ga.ok() && gb.ok());
  ASSERT_EQ(ga->size(), gb->size());
  for (size_t i = 0; i < ga->size(); ++i) {
    auto x = (*ga)[i].toDoubles(), y = (*gb)[i].toDoubles();
    for (size_t j = 0; j < x.size(); ++j)
      ASSERT_NEAR(x[j], y[j], 1e-6 * std::max(1.0, std::abs(x[j])))
          << "result " << i << " element " << j;
  }
  auto peakOf = [](const proto::Executable &exe) {
    for (const auto &entry : exe.entries())
      if (entry.name() == "grads")
        return entry.peak_bytes();
    return int64_t{0};
  };
  std::printf("peak bytes of 'grads': %lld plain, %lld with remat (executor: %lld, %lld)\n",
              static_cast<long long>(peakOf(plainExe)),
              static_cast<long long>(peakOf(rematExe)),
              static_cast<long long>(a->lastPeakBytes()),
              static_cast<long long>(b->lastPeakBytes()));
  EXPECT_LT(peakOf(rematExe), peakOf(plainExe));
  EXPECT_LT(b->lastPeakBytes(), a->lastPeakBytes());
}

} // namespace
} // namespace kiln::models
