//===- AdamWTest.cpp - AdamW against a C++ transcription of torch's rules -===//

#include "frontend/optim/AdamW.h"

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using namespace testing;

/// torch.optim.AdamW's _single_tensor_adam on f32 tensors: tensor arithmetic
/// rounds to f32, the scalars (bias corrections, step size) are doubles.
struct AdamWReference {
  std::vector<float> p, m, v;

  void step(const std::vector<double> &g, double lr, int64_t t,
            const AdamWOptions &o) {
    double bias1 = 1 - std::pow(o.beta1, double(t));
    double bias2 = 1 - std::pow(o.beta2, double(t));
    float stepSize = float(lr / bias1);
    float bias2Sqrt = float(std::sqrt(bias2));
    float decay = float(1 - lr * o.weightDecay);
    for (size_t i = 0; i < p.size(); ++i) {
      float gi = float(g[i]);
      p[i] = p[i] * decay;
      m[i] = m[i] + float(1 - o.beta1) * (gi - m[i]);
      v[i] = v[i] * float(o.beta2) + float(1 - o.beta2) * gi * gi;
      float denom = std::sqrt(v[i]) / bias2Sqrt + float(o.eps);
      p[i] = p[i] - stepSize * (m[i] / denom);
    }
  }
};

std::vector<float> toFloats(const std::vector<double> &v) {
  return std::vector<float>(v.begin(), v.end());
}

struct Param {
  std::string name;
  Shape shape;
  DType dtype;
};

/// Runs `steps` AdamW steps of three parameters (the last bf16 when
/// `withBf16`) and checks every parameter and moment after each.
void checkAdamW(const AdamWOptions &options, bool lrAsTensor, bool withBf16,
                int steps) {
  std::vector<Param> params = {
      {"w", {4, 3}, DType::f32},
      {"b", {3}, DType::f32},
      {"e", {2, 5}, withBf16 ? DType::bf16 : DType::f32}};
  Graph graph("adamw");
  std::vector<State> states;
  for (size_t i = 0; i < params.size(); ++i)
    states.push_back(graph.parameter(params[i].name, params[i].shape,
                                     params[i].dtype,
                                     init::normal(0.7, int64_t(i) + 1)));
  AdamW opt(graph, states, options);
  Function &f = graph.function("train");
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i)
    grads.push_back(
        f.input("g" + std::to_string(i), params[i].shape, params[i].dtype));
  const double fixedLr = 0.02;
  if (lrAsTensor)
    opt.step(f, grads, f.input("lr", {}, DType::f32));
  else
    opt.step(f, grads, fixedLr);
  auto exe = load(graph);
  ASSERT_TRUE(exe);

  EXPECT_EQ(opt.hasMasterWeights(), withBf16);
  EXPECT_EQ(exe->entry(kInitMasterEntry) != nullptr, withBf16);
  if (withBf16) {
    ASSERT_TRUE(exe->run(kInitMasterEntry, {}).ok());
    EXPECT_EQ(stateOf(*exe, "e.master"), stateOf(*exe, "e"));
  }

  std::vector<AdamWReference> ref(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ref[i].p = toFloats(stateOf(*exe, params[i].name));
    ref[i].m.assign(ref[i].p.size(), 0);
    ref[i].v.assign(ref[i].p.size(), 0);
  }

  std::mt19937_64 rng(42);
  for (int64_t t = 1; t <= steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    std::vector<HostTensor> inputs;
    std::vector<std::vector<double>> g;
    for (const Param &p : params) {
      Sample s = randomTensor(rng, p.dtype, p.shape, 0.5);
      inputs.push_back(s.tensor);
      g.push_back(s.values);
    }
    // Varying lr, exact in f32 so that both sides use the same value.
    double lr =
        lrAsTensor ? double(float(0.01 * (1 + 0.3 * double(t)))) : fixedLr;
    if (lrAsTensor)
      inputs.push_back(scalarTensor(DType::f32, lr));
    auto out = exe->run("train", inputs);
    ASSERT_TRUE(out.ok()) << out.status();

    EXPECT_EQ(stateOf(*exe, "optim.step"), std::vector<double>{double(t)});
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string &n = params[i].name;
      ref[i].step(g[i], lr, t, options);
      expectClose(stateOf(*exe, n + ".exp_avg"), ref[i].m, 5e-7,
                  n + ".exp_avg");
      expectClose(stateOf(*exe, n + ".exp_avg_sq"), ref[i].v, 5e-7,
                  n + ".exp_avg_sq");
      if (params[i].dtype == DType::f32) {
        expectClose(stateOf(*exe, n), ref[i].p, 5e-7, n);
        continue;
      }
      // bf16: the f32 master follows the reference, and the parameter is the
      // master rounded to bf16 (within one bf16 step of the reference's).
      std::vector<double> master = stateOf(*exe, n + ".master");
      expectClose(master, ref[i].p, 5e-7, n + ".master");
      std::vector<double> param = stateOf(*exe, n);
      ASSERT_EQ(param.size(), master.size());
      for (size_t j = 0; j < param.size(); ++j) {
        EXPECT_EQ(param[j], toBf16(master[j])) << n << "[" << j << "]";
        EXPECT_NEAR(param[j], toBf16(ref[i].p[j]),
                    std::abs(ref[i].p[j]) * std::ldexp(1.0, -8))
            << n << "[" << j << "]";
      }
    }
  }
}

TEST(AdamW, MatchesTorchWithBf16MasterWeightsAndLrTensor) {
  AdamWOptions options;
  options.beta2 = 0.95;
  options.weightDecay = 0.1;
  checkAdamW(options, /*lrAsTensor=*/true, /*withBf16=*/true, /*steps=*/6);
}

TEST(AdamW, MatchesTorchWithDefaultsAndDoubleLr) {
  checkAdamW(AdamWOptions(), /*lrAsTensor=*/false, /*withBf16=*/false,
             /*steps=*/5);
}

TEST(AdamW, NoWeightDecayAndLargeEps) {
  AdamWOptions options;
  options.weightDecay = 0;
  options.eps = 1e-3;
  checkAdamW(options, /*lrAsTensor=*/true, /*withBf16=*/true, /*steps=*/4);
}

TEST(AdamW, StateIsDeclaredAsOptimizerState) {
  Graph graph;
  State w = graph.parameter("w", {2}, DType::bf16, init::ones());
  AdamW opt(graph, {w});
  EXPECT_EQ(opt.expAvg(0).name(), "w.exp_avg");
  EXPECT_EQ(opt.expAvg(0).dtype(), DType::f32);
  EXPECT_EQ(opt.expAvgSq(0).name(), "w.exp_avg_sq");
  EXPECT_EQ(opt.expAvgSq(0).kind(), StateKind::optimizer);
  ASSERT_TRUE(opt.master(0).has_value());
  EXPECT_EQ(opt.master(0)->name(), "w.master");
  EXPECT_EQ(opt.master(0)->dtype(), DType::f32);
  EXPECT_EQ(opt.stepState().name(), "optim.step");
  EXPECT_EQ(opt.stepState().dtype(), DType::i64);
  EXPECT_EQ(opt.stepState().kind(), StateKind::optimizer);
  EXPECT_TRUE(graph.status().ok()) << graph.status();
}

} // namespace
} // namespace kiln::optim
