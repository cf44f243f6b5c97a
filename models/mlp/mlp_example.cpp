//===- mlp_example.cpp - compile and run the MLP on the CPU ----------------===//
//
// The foundation's end-to-end path: a model written in the frontend is compiled
// (IR after every pass optionally dumped), run on the CPU executor with parameters
// initialised from seeds, and checked against a hand-written reference.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdio>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "models/mlp/MlpModel.h"

using namespace kiln;

int main(int argc, char **argv) {
  models::MlpConfig config;
  codegen::CompileOptions options;
  if (argc > 1)
    options.dumpIrDir = argv[1];

  Graph graph = models::buildMlpGraph(config);
  auto module = graph.build();
  if (!module.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(module.status().message()).c_str());
    return 1;
  }
  auto exe = codegen::compile(*module, options);
  if (!exe.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(exe.status().message()).c_str());
    return 1;
  }
  auto executor = Executor::create(*exe);
  if (!executor.ok() || !(*executor)->initializeState().ok()) {
    std::fprintf(stderr, "error: cannot start the executor\n");
    return 1;
  }

  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  std::vector<double> x(config.batch * config.inputs);
  for (double &v : x)
    v = normal(rng);
  std::vector<int64_t> labels(config.batch);
  HostTensor labelTensor(proto::I64, {config.batch});
  for (int64_t b = 0; b < config.batch; ++b) {
    labels[b] = static_cast<int64_t>(rng() % config.classes);
    labelTensor.data<int64_t>()[b] = labels[b];
  }
  HostTensor xTensor = HostTensor::fromDoubles(proto::F32, {config.batch, config.inputs}, x);
  // The reference sees exactly the f32 values the graph sees.
  x = xTensor.toDoubles();

  auto results = (*executor)->run("loss", {xTensor, labelTensor});
  if (!results.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(results.status().message()).c_str());
    return 1;
  }
  auto state = [&](const char *name) { return (*(*executor)->getState(name)).toDoubles(); };
  models::MlpReference ref = models::mlpReference(
      config, x, labels, state("fc1.weight"), state("fc1.bias"), state("fc2.weight"),
      state("fc2.bias"));

  std::vector<double> logits = (*results)[0].toDoubles();
  double loss = (*results)[1].toDoubles()[0];
  double maxDiff = std::abs(loss - ref.loss);
  for (size_t i = 0; i < logits.size(); ++i)
    maxDiff = std::max(maxDiff, std::abs(logits[i] - ref.logits[i]));
  std::printf("compiled %d steps for entry 'loss' (peak %lld bytes)\n",
              exe->entries(0).steps_size(),
              static_cast<long long>(exe->entries(0).peak_bytes()));
  std::printf("loss: kiln %.7f, reference %.7f, max |diff| over logits and loss %.2e\n",
              loss, ref.loss, maxDiff);
  if (!(maxDiff <= 1e-5)) {
    std::fprintf(stderr, "error: the compiled MLP differs from its reference\n");
    return 1;
  }
  std::printf("ok: matches the hand-written reference to 1e-5\n");
  return 0;
}
