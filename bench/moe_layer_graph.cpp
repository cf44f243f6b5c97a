//===- moe_layer_graph.cpp - the MoE-layer bench graphs, from model code
//---===//
//
// Writes the graphs of the GPU bench's MoE-layer rows (issue #7) as .mlir text
// that kiln-compile reads: DeepSeek-V3's MoE layer built by Kiln's own model
// code (models/deepseek/DeepseekMoe), so the bench times what a model runs.
//
//   moe_layer_fwd.mlir      entry moe_layer_fwd:     x -> y
//   moe_layer_fwd_bwd.mlir  entry moe_layer_fwd_bwd: x, dy -> y, dx and the
//                           gradients of the three stacked expert weights
//
// Routed experts only (n_shared_experts = 0), as the torch peers of
// bench/gpu_bench.py; one expert group (n_group = topk_group = 1), so routing
// is plain sigmoid top-k with normalised weights. The weights are state with
// the model's uniform(+-1/sqrt(fan_in)) initialisers, so kiln-run --bench fills
// them on the device at a realistic scale (only x and dy are drawn N(0, 1)).
//
// usage: kiln-bench-moe-graph --out-dir=DIR [--tokens=4096] [--hidden=2048]
//          [--experts=64] [--topk=6] [--inter=1408]
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "models/deepseek/DeepseekMoe.h"

using namespace kiln;
using namespace kiln::models;

namespace {

struct Flags {
  std::string outDir;
  int64_t tokens = 4096, hidden = 2048, experts = 64, topk = 6, inter = 1408;
};

int fail(const std::string &message) {
  std::fprintf(stderr, "kiln-bench-moe-graph: error: %s\n", message.c_str());
  return 1;
}

/// "", or why the command line is bad.
std::string parseFlags(int argc, char **argv, Flags &f) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq),
                value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (name == "--out-dir") {
      f.outDir = value;
      continue;
    }
    int64_t *target = name == "--tokens"    ? &f.tokens
                      : name == "--hidden"  ? &f.hidden
                      : name == "--experts" ? &f.experts
                      : name == "--topk"    ? &f.topk
                      : name == "--inter"   ? &f.inter
                                            : nullptr;
    if (!target)
      return "unknown flag '" + arg + "'";
    if (!absl::SimpleAtoi(value, target) || *target < 1)
      return name + ": '" + value + "' is not a positive integer";
  }
  if (f.outDir.empty())
    return "--out-dir=DIR is required";
  return "";
}

DeepseekV3Config layerConfig(const Flags &f) {
  DeepseekV3Config c;
  c.hiddenSize = f.hidden;
  c.moeIntermediateSize = f.inter;
  c.nRoutedExperts = f.experts;
  c.numExpertsPerTok = f.topk;
  c.nSharedExperts = 0;
  c.nGroup = 1;
  c.topkGroup = 1;
  return c;
}

/// One module with one entry: the layer's forward, or forward and backward.
absl::StatusOr<std::string> buildGraph(const Flags &f, bool backward) {
  const std::string name = backward ? "moe_layer_fwd_bwd" : "moe_layer_fwd";
  Graph graph(name);
  MoeLayer layer(graph, layerConfig(f), "mlp", DType::bf16, /*seed=*/1);
  Function &fn = graph.function(name);
  Tensor x = fn.input("x", {1, f.tokens, f.hidden}, DType::bf16);
  Tensor y = layer(fn, x);
  fn.output("y", y);
  if (backward) {
    // A random cotangent (torch: y.backward(dy)): loss = sum(y * dy) in f32.
    Tensor dy = fn.input("dy", {1, f.tokens, f.hidden}, DType::bf16);
    Tensor loss = sum(cast(y, DType::f32) * cast(dy, DType::f32), {0, 1, 2});
    std::vector<Tensor> wrt{x};
    for (const State &s : layer.expertStates())
      wrt.push_back(fn.read(s));
    std::vector<Tensor> grads = grad(loss, wrt);
    const char *names[] = {"dx", "d_gate_proj", "d_up_proj", "d_down_proj"};
    for (size_t i = 0; i < grads.size(); ++i)
      fn.output(names[i], grads[i]);
  }
  auto module = graph.build();
  if (!module.ok())
    return module.status();
  return module->str();
}

} // namespace

int main(int argc, char **argv) {
  const char *usage =
      "usage: kiln-bench-moe-graph --out-dir=DIR [--tokens=4096] "
      "[--hidden=2048] [--experts=64] [--topk=6] [--inter=1408]\n"
      "writes DIR/moe_layer_fwd.mlir and DIR/moe_layer_fwd_bwd.mlir\n";
  if (argc == 2 && std::string(argv[1]) == "--help") {
    std::fputs(usage, stdout);
    return 0;
  }
  Flags flags;
  if (std::string bad = parseFlags(argc, argv, flags); !bad.empty())
    return fail(bad + "\n" + usage);
  if (auto s = layerConfig(flags).validate(); !s.ok())
    return fail(std::string(s.message()));
  std::error_code ec;
  std::filesystem::create_directories(flags.outDir, ec);
  if (ec)
    return fail("cannot create '" + flags.outDir + "': " + ec.message());
  for (bool backward : {false, true}) {
    auto text = buildGraph(flags, backward);
    if (!text.ok())
      return fail(std::string(text.status().message()));
    std::string path = flags.outDir + (backward ? "/moe_layer_fwd_bwd.mlir"
                                                : "/moe_layer_fwd.mlir");
    std::ofstream out(path);
    out << "// Generated by kiln-bench-moe-graph (bench/moe_layer_graph.cpp): "
           "T="
        << flags.tokens << " H=" << flags.hidden << " E=" << flags.experts
        << " top-" << flags.topk << " I=" << flags.inter
        << " bf16, routed experts only.\n"
        << *text;
    if (!out.flush())
      return fail("cannot write '" + path + "'");
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
