//===- MoeLayerGraphTest.cpp - the MoE-layer bench graphs still compile
//-----===//
//
// kiln-bench-moe-graph writes the graphs of the GPU bench's MoE-layer rows at
// `make gpu-carry` time, so nothing in bench/graphs holds them: this suite runs
// the generator at the bench shape and checks what the GPU machine needs,
// namely both graphs compile for the host and the ptx target, every ptx kernel
// assembles with ptxas, and the weights are initialised state (kiln-run draws
// only x and dy). At a small shape the CPU executor checks that the forward+
// backward entry's y is the forward's and its gradients are live.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "executor/ExecutableQueries.h"
#include "tests/codegen/CompileTestUtil.h"

namespace kiln::testing {
namespace {

const char *kPtxas = "/usr/local/cuda/bin/ptxas";

/// Runs the generator into a fresh folder; returns the folder.
std::string generate(const std::string &tag, const std::string &flags = "") {
  std::string dir = ::testing::TempDir() + "/kiln-moe-graph-" + tag;
  std::filesystem::remove_all(dir);
  std::string command =
      std::string(KILN_BENCH_MOE_GRAPH) + " --out-dir=" + dir + " " + flags;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return dir;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

absl::StatusOr<proto::Executable> compileFor(const std::string &text,
                                             const std::string &target) {
  codegen::CompileOptions options;
  options.target = target;
  return compileText(text, options);
}

void expectEveryModuleAssembles(const proto::Executable &exe,
                                const std::string &tag) {
  std::string dir = ::testing::TempDir() + "/kiln-moe-ptxas-" + tag;
  std::filesystem::create_directories(dir);
  for (const proto::PtxModule &module : exe.modules()) {
    std::string path = dir + "/" + module.name() + ".ptx";
    std::ofstream(path) << module.ptx();
    std::string command = std::string(kPtxas) + " -arch=" + module.arch() +
                          " " + path + " -o " + path + ".cubin > " + path +
                          ".log 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0)
        << "ptxas rejected " << tag << " " << module.name() << ":\n"
        << readFile(path + ".log");
  }
}

TEST(MoeLayerGraph, BenchShapeCompilesForHostAndPtxAndEveryKernelAssembles) {
  std::string dir = generate("bench");
  for (const std::string name : {"moe_layer_fwd", "moe_layer_fwd_bwd"}) {
    SCOPED_TRACE(name);
    std::string text = readFile(dir + "/" + name + ".mlir");
    EXPECT_NE(text.find("T=4096 H=2048 E=64 top-6 I=1408 bf16"),
              std::string::npos)
        << "gpu_bench.py reads the shape from this header line";
    auto host = compileFor(text, "host");
    ASSERT_TRUE(host.ok()) << host.status();
    auto ptx = compileFor(text, "ptx");
    ASSERT_TRUE(ptx.ok()) << ptx.status();
    // The layer, and kiln.derive_state with the router weight's f32 copy
    // (kiln-hoist-derived-state), which a timed call does not rerun.
    ASSERT_EQ(ptx->entries_size(), 2);
    const proto::EntryPoint &entry = ptx->entries(0);
    EXPECT_EQ(entry.name(), name); // the bundle key kiln-run prints
    EXPECT_EQ(ptx->entries(1).name(), "kiln.derive_state");

    // kiln-run --bench draws every argument without an initializer from N(0,
    // 1): that must be only the activations, never a weight; derived state
    // is computed from the weights.
    for (const proto::StateEntry &s : ptx->state())
      EXPECT_TRUE(!s.init().kind().empty() || isDerivedState(s)) << s.name();
    std::vector<std::string> callerArgs;
    for (const proto::Argument &a : entry.arguments())
      if (a.state().empty())
        callerArgs.push_back(a.name());
    std::vector<std::string> results;
    for (const proto::Result &r : entry.results())
      results.push_back(r.name());
    if (name == "moe_layer_fwd") {
      EXPECT_EQ(callerArgs, std::vector<std::string>({"x"}));
      EXPECT_EQ(results, std::vector<std::string>({"y"}));
    } else {
      EXPECT_EQ(callerArgs, std::vector<std::string>({"x", "dy"}));
      EXPECT_EQ(results,
                std::vector<std::string>(
                    {"y", "dx", "d_gate_proj", "d_up_proj", "d_down_proj"}));
    }

    int launches = 0, groupedMatmuls = 0, gateUps = 0;
    for (const proto::Step &s : entry.steps())
      if (s.op() == "launch") {
        ++launches;
        const std::string &kernel = s.launch().kernel();
        groupedMatmuls += kernel.find("grouped_matmul") != std::string::npos;
        gateUps += kernel.find("moe_gate_up") != std::string::npos;
      }
    // Forward: gate, up and down as grouped GEMMs (the one-launch gate/up
    // kernel is off by default: PtxGraphOptions::gateUpKernel); backward
    // adds two grouped GEMMs per projection (data and weight).
    EXPECT_EQ(gateUps, 0);
    EXPECT_EQ(groupedMatmuls, name == "moe_layer_fwd" ? 3 : 9);
    EXPECT_GT(launches, groupedMatmuls);
    if (std::filesystem::exists(kPtxas))
      expectEveryModuleAssembles(*ptx, name);
  }
}

TEST(MoeLayerGraph, SmallShapeRunsOnTheCpuWithLiveGradients) {
  std::string dir = generate(
      "small", "--tokens=32 --hidden=16 --experts=8 --topk=2 --inter=8");
  std::mt19937_64 rng(11);
  HostTensor x = randomTensor(proto::BF16, {1, 32, 16}, rng);
  HostTensor dy = randomTensor(proto::BF16, {1, 32, 16}, rng);

  auto run = [&](const std::string &name,
                 const std::map<std::string, HostTensor> &in) {
    auto exe = compileFor(readFile(dir + "/" + name + ".mlir"), "host");
    EXPECT_TRUE(exe.ok()) << exe.status();
    auto executor = Executor::create(*exe);
    EXPECT_TRUE(executor.ok()) << executor.status();
    EXPECT_TRUE((*executor)->initializeState().ok());
    auto out = (*executor)->runNamed(name, in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : std::map<std::string, HostTensor>{};
  };
  auto fwd = run("moe_layer_fwd", {{"x", x}});
  auto both = run("moe_layer_fwd_bwd", {{"x", x}, {"dy", dy}});
  ASSERT_TRUE(fwd.count("y") && both.count("y"));
  EXPECT_EQ(fwd.at("y").toDoubles(), both.at("y").toDoubles());
  for (const char *g : {"dx", "d_gate_proj", "d_up_proj", "d_down_proj"}) {
    ASSERT_TRUE(both.count(g)) << g;
    double norm = 0;
    for (double v : both.at(g).toDoubles()) {
      ASSERT_TRUE(std::isfinite(v)) << g;
      norm += v * v;
    }
    EXPECT_GT(norm, 0) << g;
  }
}

TEST(MoeLayerGraph, BadFlagsAreErrorsThatSayWhy) {
  std::string gen = KILN_BENCH_MOE_GRAPH;
  EXPECT_NE(std::system((gen + " > /dev/null 2>&1").c_str()),
            0); // no --out-dir
  EXPECT_NE(std::system(
                (gen + " --out-dir=/tmp/x --topk=0 > /dev/null 2>&1").c_str()),
            0);
  EXPECT_NE(std::system(
                (gen + " --out-dir=/tmp/x --bogus=1 > /dev/null 2>&1").c_str()),
            0);
  // top-k above the expert count fails the config check, before writing
  // anything.
  std::string dir = ::testing::TempDir() + "/kiln-moe-graph-bad";
  std::filesystem::remove_all(dir);
  EXPECT_NE(std::system((gen + " --out-dir=" + dir +
                         " --experts=4 --topk=6 > /dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_FALSE(std::filesystem::exists(dir + "/moe_layer_fwd.mlir"));
}

} // namespace
} // namespace kiln::testing
