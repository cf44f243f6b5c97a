//===- DeepseekTrainFixture.h - a DeepSeek training executor for tests -*- C++
//-*-===//
//
// Compiles buildDeepseekTrainGraph for the CPU executor with its state
// initialised, and draws a batch of random tokens and targets (every position
// counted), for the model tests that train a few steps.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_MODELS_DEEPSEEKTRAINFIXTURE_H
#define KILN_TESTS_MODELS_DEEPSEEKTRAINFIXTURE_H

#include <map>
#include <memory>
#include <random>
#include <string>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/deepseek/DeepseekTrain.h"
#include "tests/codegen/CompileTestUtil.h"

#include "gtest/gtest.h"

namespace kiln::models {

/// The training executor of `o`, or null after a gtest failure.
inline std::unique_ptr<Executor>
startDeepseekTrain(const DeepseekTrainOptions &o,
                   const codegen::CompileOptions &options = {}) {
  auto graph = buildDeepseekTrainGraph(o);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok())
    return nullptr;
  auto module = graph->build();
  EXPECT_TRUE(module.ok()) << module.status();
  if (!module.ok())
    return nullptr;
  return testing::startExecutor(codegen::compile(*module, options));
}

/// tokens and targets uniform over the vocabulary, mask all ones.
inline std::map<std::string, HostTensor>
randomTrainBatch(const DeepseekTrainOptions &o, uint64_t seed) {
  std::mt19937_64 rng(seed);
  HostTensor tokens(proto::I64, {o.batch, o.seqLen});
  HostTensor targets(proto::I64, {o.batch, o.seqLen});
  HostTensor mask =
      HostTensor::fromDoubles(proto::F32, {o.batch, o.seqLen},
                              std::vector<double>(o.batch * o.seqLen, 1.0));
  for (int64_t i = 0; i < o.batch * o.seqLen; ++i) {
    tokens.setInt(i, static_cast<int64_t>(rng() % o.model.vocabSize));
    targets.setInt(i, static_cast<int64_t>(rng() % o.model.vocabSize));
  }
  return {{"tokens", tokens}, {"targets", targets}, {"mask", mask}};
}

} // namespace kiln::models

#endif // KILN_TESTS_MODELS_DEEPSEEKTRAINFIXTURE_H
