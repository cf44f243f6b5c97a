//===- SgdTest.cpp - SGD with momentum against torch's rules in C++ -------===//

#include "frontend/optim/Sgd.h"

#include "OptimTestUtil.h"

namespace kiln::optim {
namespace {

using namespace testing;

/// torch.optim.SGD's _single_tensor_sgd on f32 tensors.
struct SgdReference {
  std::vector<float> p, buf;

  void step(const std::vector<double> &grad, double lr, int64_t t,
            const SgdOptions &o) {
    for (size_t i = 0; i < p.size(); ++i) {
      float g = float(grad[i]);
      if (o.weightDecay != 0)
        g = g + float(o.weightDecay) * p[i];
      if (o.momentum != 0) {
        buf[i] = t == 1
                     ? g
                     : buf[i] * float(o.momentum) + float(1 - o.dampening) * g;
        g = o.nesterov ? g + float(o.momentum) * buf[i] : buf[i];
      }
      p[i] = p[i] + float(-lr) * g;
    }
  }
};

void checkSgd(const SgdOptions &options, int steps) {
  struct Param {
    std::string name;
    Shape shape;
    DType dtype;
  };
  std::vector<Param> params = {{"w", {3, 4}, DType::f32},
                               {"b", {4}, DType::f32},
                               {"e", {6}, DType::bf16}};
  Graph graph("sgd");
  std::vector<State> states;
  for (size_t i = 0; i < params.size(); ++i)
    states.push_back(graph.parameter(params[i].name, params[i].shape,
                                     params[i].dtype,
                                     init::uniform(-1, 1, int64_t(i) + 7)));
  SGD opt(graph, states, options);
  Function &f = graph.function("train");
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i)
    grads.push_back(
        f.input("g" + std::to_string(i), params[i].shape, params[i].dtype));
  opt.step(f, grads, f.input("lr", {}, DType::f32));
  auto exe = load(graph);
  ASSERT_TRUE(exe);
  ASSERT_TRUE(exe->run(kInitMasterEntry, {}).ok());

  std::vector<SgdReference> ref(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ref[i].p.clear();
    for (double x : stateOf(*exe, params[i].name))
      ref[i].p.push_back(float(x));
    ref[i].buf.assign(ref[i].p.size(), 0);
    EXPECT_EQ(opt.momentumBuffer(i).valid(), options.momentum != 0);
  }

  std::mt19937_64 rng(7);
  for (int64_t t = 1; t <= steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    std::vector<HostTensor> inputs;
    std::vector<std::vector<double>> g;
    for (const Param &p : params) {
      Sample s = randomTensor(rng, p.dtype, p.shape);
      inputs.push_back(s.tensor);
      g.push_back(s.values);
    }
    double lr = double(float(0.05 / double(t)));
    inputs.push_back(scalarTensor(DType::f32, lr));
    auto out = exe->run("train", inputs);
    ASSERT_TRUE(out.ok()) << out.status();
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string &n = params[i].name;
      ref[i].step(g[i], lr, t, options);
      if (options.momentum != 0)
        expectClose(stateOf(*exe, n + ".momentum_buffer"), ref[i].buf, 5e-7,
                    n + ".momentum_buffer");
      if (params[i].dtype == DType::f32) {
        expectClose(stateOf(*exe, n), ref[i].p, 5e-7, n);
        continue;
      }
      std::vector<double> master = stateOf(*exe, n + ".master");
      expectClose(master, ref[i].p, 5e-7, n + ".master");
      std::vector<double> param = stateOf(*exe, n);
      for (size_t j = 0; j < param.size(); ++j) {
        EXPECT_EQ(param[j], toBf16(master[j])) << n << "[" << j << "]";
        EXPECT_NEAR(param[j], toBf16(ref[i].p[j]),
                    std::abs(ref[i].p[j]) * std::ldexp(1.0, -8));
      }
    }
  }
}

TEST(Sgd, MomentumWithDampeningStartsTheBufferAtTheGradient) {
  SgdOptions options;
  options.momentum = 0.9;
  options.dampening = 0.3;
  options.weightDecay = 0.01;
  checkSgd(options, 5);
}

TEST(Sgd, Nesterov) {
  SgdOptions options;
  options.momentum = 0.8;
  options.weightDecay = 0.05;
  options.nesterov = true;
  checkSgd(options, 5);
}

TEST(Sgd, PlainHasNoBuffers) { checkSgd(SgdOptions(), 3); }

} // namespace
} // namespace kiln::optim
