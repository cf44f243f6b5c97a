//===- MlpTest.cpp - the MLP example against its hand-written reference ----===//

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/mlp/MlpModel.h"

#include <random>

#include "gtest/gtest.h"

namespace kiln::models {
namespace {

TEST(Mlp, CompiledGraphMatchesHandWrittenReference) {
  for (int64_t seed : {1, 2}) {
    MlpConfig config;
    config.seed = seed;
    config.batch = 7; // not a multiple of anything convenient
    Graph graph = buildMlpGraph(config);
    auto module = graph.build();
    ASSERT_TRUE(module.ok()) << module.status();
    auto exe = codegen::compile(*module);
    ASSERT_TRUE(exe.ok()) << exe.status();
    auto executor = Executor::create(*exe);
    ASSERT_TRUE(executor.ok()) << executor.status();
    ASSERT_TRUE((*executor)->initializeState().ok());

    std::mt19937_64 rng(seed * 101);
    std::normal_distribution<double> normal;
    std::vector<double> x(config.batch * config.inputs);
    for (double &v : x)
      v = normal(rng);
    HostTensor xt = HostTensor::fromDoubles(proto::F32, {config.batch, config.inputs}, x);
    x = xt.toDoubles();
    std::vector<int64_t> labels(config.batch);
    HostTensor lt(proto::I64, {config.batch});
    for (int64_t b = 0; b < config.batch; ++b)
      lt.data<int64_t>()[b] = labels[b] = rng() % config.classes;

    auto results = (*executor)->run("loss", {xt, lt});
    ASSERT_TRUE(results.ok()) << results.status();
    auto state = [&](const char *name) {
      auto t = (*executor)->getState(name);
      EXPECT_TRUE(t.ok()) << t.status();
      return t->toDoubles();
    };
    MlpReference ref = mlpReference(config, x, labels, state("fc1.weight"),
                                    state("fc1.bias"), state("fc2.weight"),
                                    state("fc2.bias"));
    auto logits = (*results)[0].toDoubles();
    ASSERT_EQ(logits.size(), ref.logits.size());
    for (size_t i = 0; i < logits.size(); ++i)
      EXPECT_NEAR(logits[i], ref.logits[i], 1e-5) << "logit " << i;
    EXPECT_NEAR((*results)[1].toDoubles()[0], ref.loss, 1e-5);
    // Parameters are drawn, not zero: the check is not vacuous.
    EXPECT_GT(std::abs(ref.loss), 0.1);
  }
}

TEST(Mlp, ParametersFollowTheirSeeds) {
  auto compileState = [](int64_t seed) {
    MlpConfig config;
    config.seed = seed;
    Graph graph = buildMlpGraph(config);
    auto module = graph.build();
    auto exe = codegen::compile(*module);
    auto executor = Executor::create(*exe);
    EXPECT_TRUE((*executor)->initializeState().ok());
    return (*(*executor)->getState("fc1.weight")).toDoubles();
  };
  EXPECT_EQ(compileState(5), compileState(5));
  EXPECT_NE(compileState(5), compileState(6));
}

} // namespace
} // namespace kiln::models
