//===- DeepseekFuseMoeTest.cpp - kiln-fuse-moe on the DeepSeek model ------===//
//
// The pass fires on every MoE layer of every entry of the training graph and
// leaves no unfused routing or dispatch behind; the fused model's loss and
// gradients match the unfused graph's (f32: to rounding, bf16: to bf16
// tolerance); and training with the fused layers gives the same bits run after
// run.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstring>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "ir/KilnOps.h"
#include "models/deepseek/DeepseekTrain.h"
#include "passes/Passes.h"
#include "tests/models/DeepseekTrainFixture.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "gtest/gtest.h"

namespace kiln::models {
namespace {

const std::string kFixtures =
    std::string(KILN_SOURCE_DIR) + "/tests/fixtures/deepseek/";

DeepseekTrainOptions fixtureOptions(DType dtype = DType::f32) {
  auto c = readDeepseekV3Config(kFixtures + "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  DeepseekTrainOptions o;
  o.model = c.ok() ? *c : DeepseekV3Config{};
  o.dtype = dtype;
  o.seed = 11;
  o.batch = 2;
  o.seqLen = 6;
  o.peakLr = 1e-2;
  return o;
}

int64_t moeLayers(const DeepseekTrainOptions &o) {
  return o.model.numHiddenLayers - o.model.firstKDenseReplace;
}

std::unique_ptr<Executor> start(const DeepseekTrainOptions &o, bool fuse) {
  codegen::CompileOptions options;
  options.fuseMoe = fuse;
  return startDeepseekTrain(o, options);
}

/// max |a - b| over max(|b|) (1 where b is all zero).
double relativeError(const HostTensor &a, const HostTensor &b) {
  std::vector<double> x = a.toDoubles(), y = b.toDoubles();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / (scale > 0 ? scale : 1.0);
}

template <typename OpT> int64_t count(mlir::func::FuncOp func) {
  int64_t n = 0;
  func.walk([&](OpT) { ++n; });
  return n;
}

int64_t floatScatterAdds(mlir::func::FuncOp func) {
  int64_t n = 0;
  func.walk([&](ir::ScatterAddOp op) {
    n += llvm::isa<mlir::FloatType>(op.getType().getElementType());
  });
  return n;
}

TEST(DeepseekFuseMoe, FiresOnEveryMoeLayerOfEveryEntry) {
  DeepseekTrainOptions o = fixtureOptions();
  auto graph = buildDeepseekTrainGraph(o);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto module = graph->build();
  ASSERT_TRUE(module.ok()) << module.status();
  std::map<std::string, int64_t> before;
  module->module().walk([&](mlir::func::FuncOp f) {
    before[f.getSymName().str()] = floatScatterAdds(f);
  });
  mlir::PassManager pm(&module->context());
  pm.addPass(passes::createFuseMoe());
  ASSERT_TRUE(mlir::succeeded(pm.run(module->module())));
  int64_t entries = 0;
  module->module().walk([&](mlir::func::FuncOp f) {
    std::string name = f.getSymName().str();
    if (before[name] == 0)
      return;
    ++entries;
    EXPECT_EQ(before[name], moeLayers(o)) << name;
    EXPECT_EQ(count<ir::MoeRouteOp>(f), moeLayers(o)) << name;
    EXPECT_EQ(count<ir::TopkOp>(f), 0) << name;
    EXPECT_EQ(count<ir::MoePlanOp>(f), moeLayers(o)) << name;
    EXPECT_EQ(count<ir::MoeGateUpOp>(f), moeLayers(o)) << name;
    EXPECT_EQ(count<ir::MoeDownOp>(f), moeLayers(o)) << name;
    EXPECT_EQ(floatScatterAdds(f), 0) << name;
    EXPECT_EQ(count<ir::GroupedMatmulOp>(f), 0) << name;
    EXPECT_EQ(count<ir::ArgsortOp>(f), 0) << name;
  });
  EXPECT_GE(entries, 3); // train_step, eval_loss, grads
}

TEST(DeepseekFuseMoe, GradientsMatchTheUnfusedGraph) {
  DeepseekTrainOptions o = fixtureOptions();
  auto fused = start(o, true), unfused = start(o, false);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  auto in = randomTrainBatch(o, 3);
  auto a = fused->runNamed("grads", in);
  auto b = unfused->runNamed("grads", in);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->size(), b->size());
  int64_t expertGrads = 0;
  for (const auto &[name, tensor] : *b) {
    ASSERT_TRUE(a->count(name)) << name;
    EXPECT_LE(relativeError(a->at(name), tensor), 1e-5) << name;
    expertGrads += name.find(".experts.") != std::string::npos;
  }
  EXPECT_EQ(expertGrads, 3 * moeLayers(o));
}

TEST(DeepseekFuseMoe, Bf16LossesMatchTheUnfusedGraph) {
  DeepseekTrainOptions o = fixtureOptions(DType::bf16);
  auto fused = start(o, true), unfused = start(o, false);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  auto in = randomTrainBatch(o, 5);
  auto a = fused->runNamed("eval_loss", in);
  auto b = unfused->runNamed("eval_loss", in);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  // The fused ops round each routed row once where the unfused graph rounds
  // twice: bf16-level differences, no more.
  EXPECT_LE(relativeError(a->at("ce_loss"), b->at("ce_loss")), 2e-2);
  // The first MoE layer's router reads the residual stream before any fused
  // op has run: its choices must be the same experts exactly.
  std::string first =
      "router_experts." + std::to_string(o.model.firstKDenseReplace);
  ASSERT_TRUE(a->count(first) && b->count(first)) << first;
  EXPECT_EQ(a->at(first).toDoubles(), b->at(first).toDoubles());
}

TEST(DeepseekFuseMoe, TrainingGivesTheSameBitsEveryRun) {
  DeepseekTrainOptions o = fixtureOptions();
  auto first = start(o, true), second = start(o, true);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  for (uint64_t step = 0; step < 3; ++step) {
    auto in = randomTrainBatch(o, 20 + step);
    ASSERT_TRUE(first->runNamed("train_step", in).ok());
    ASSERT_TRUE(second->runNamed("train_step", in).ok());
  }
  for (const std::string &name : first->stateNames()) {
    auto a = first->getState(name), b = second->getState(name);
    ASSERT_TRUE(a.ok() && b.ok()) << name;
    EXPECT_EQ(a->typeString(), b->typeString()) << name;
    EXPECT_EQ(std::memcmp(a->data(), b->data(), a->byteSize()), 0) << name;
  }
}

} // namespace
} // namespace kiln::models
