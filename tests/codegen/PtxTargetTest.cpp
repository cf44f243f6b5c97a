//===- PtxTargetTest.cpp - the ptx target's Executables, checked on the CPU
//-===//
//
// Compiles graphs for the ptx target and checks what can be checked without a
// GPU: every kernel assembles with ptxas for the architecture its `.target`
// names, launches pass only buffers, the arena plan never overlaps two live
// buffers, and unsupported ops are clear errors. Numerics run on the GPU
// machine (tests/cuda and kiln-run).
//
//===----------------------------------------------------------------------===//

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/codegen/CompileTestUtil.h"

namespace kiln::testing {
namespace {

const char *kPtxas = "/usr/local/cuda/bin/ptxas";

codegen::CompileOptions ptxOptions() {
  codegen::CompileOptions options;
  options.target = "ptx";
  return options;
}

const char *kGraph = R"mlir(
func.func @main(%a: tensor<4x300xf32> {kiln.name = "a"}, %b: tensor<300xf32> {kiln.name = "b"},
                %w: tensor<300x7xf32> {kiln.name = "w"}, %l: tensor<4xi64> {kiln.name = "labels"})
    -> (tensor<4x300xf32> {kiln.name = "y"}, tensor<4xf32> {kiln.name = "m"}, tensor<f32> {kiln.name = "loss"}) {
  %y = kiln.add %a, %b : (tensor<4x300xf32>, tensor<300xf32>) -> tensor<4x300xf32>
  %g = kiln.gelu %y : (tensor<4x300xf32>) -> tensor<4x300xf32>
  %m = kiln.mean %g {axes = array<i64: 1>, keepdims = false} : (tensor<4x300xf32>) -> tensor<4xf32>
  %logits = kiln.matmul %g, %w {transpose_a = false, transpose_b = false} : (tensor<4x300xf32>, tensor<300x7xf32>) -> tensor<4x7xf32>
  %ce = kiln.cross_entropy %logits, %l : (tensor<4x7xf32>, tensor<4xi64>) -> tensor<4xf32>
  %loss = kiln.mean %ce {axes = array<i64: 0>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
  %t = kiln.transpose %g {perm = array<i64: 1, 0>} : (tensor<4x300xf32>) -> tensor<300x4xf32>
  %r = kiln.reshape %t {shape = array<i64: 1200>} : (tensor<300x4xf32>) -> tensor<1200xf32>
  %s = kiln.slice %r {start = array<i64: 3>, limit = array<i64: 1200>, stride = array<i64: 7>} : (tensor<1200xf32>) -> tensor<171xf32>
  %c = kiln.cast %s {to = bf16} : (tensor<171xf32>) -> tensor<171xbf16>
  %i = kiln.greater %m, %m : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
  return %g, %m, %loss : tensor<4x300xf32>, tensor<4xf32>, tensor<f32>
})mlir";

/// Writes every module of `exe` to a file and assembles it with ptxas for the
/// architecture its `.target` names.
void expectEveryModuleAssembles(const proto::Executable &exe,
                                const std::string &tag) {
  std::string dir = ::testing::TempDir() + "/kiln-ptxas-" + tag;
  std::filesystem::create_directories(dir);
  for (const proto::PtxModule &module : exe.modules()) {
    std::smatch match;
    ASSERT_TRUE(std::regex_search(module.ptx(), match,
                                  std::regex(R"(\.target\s+(sm_\w+))")))
        << module.name();
    EXPECT_EQ(match[1].str(), module.arch());
    EXPECT_EQ(module.ptx().find('\0'), std::string::npos) << "NUL byte in PTX";
    std::string path = dir + "/" + module.name() + ".ptx";
    std::ofstream(path) << module.ptx();
    std::string command = std::string(kPtxas) + " -arch=" + match[1].str() +
                          " " + path + " -o " + path + ".cubin 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0)
        << "ptxas rejected " << tag << " " << module.name();
  }
}

TEST(PtxTarget, EveryKernelAssemblesWithPtxas) {
  if (!std::filesystem::exists(kPtxas))
    GTEST_SKIP() << "ptxas not found at " << kPtxas
                 << " (the CUDA toolkit is not installed)";
  auto exe = compileText(kGraph, ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_EQ(exe->target(), "ptx");
  ASSERT_GT(exe->modules_size(), 5);
  expectEveryModuleAssembles(*exe, "main");
}

/// The graphs the GPU machine runs (tests/gpu) and benchmarks (bench/graphs):
/// every kernel they lower to, tensor-core ones included, must assemble here.
TEST(PtxTarget, EveryGpuTestAndBenchGraphAssembles) {
  if (!std::filesystem::exists(kPtxas))
    GTEST_SKIP() << "ptxas not found at " << kPtxas
                 << " (the CUDA toolkit is not installed)";
  int graphs = 0;
  for (const char *folder : {"/tests/gpu", "/bench/graphs"})
    for (const auto &file : std::filesystem::directory_iterator(
             std::string(KILN_SOURCE_DIR) + folder)) {
      if (file.path().extension() != ".mlir")
        continue;
      std::ifstream in(file.path());
      std::string text((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
      auto exe = compileText(text, ptxOptions());
      ASSERT_TRUE(exe.ok()) << file.path() << ": " << exe.status();
      expectEveryModuleAssembles(*exe, file.path().stem().string());
      ++graphs;
    }
  EXPECT_GE(graphs, 8);
}

/// The ptx target plans MoE dispatch with the one-block kernel by default
/// (checked on an H100); --moe-plan-kernel=false, like plans past its limits,
/// takes argsort, bincount and scan. Both forms must assemble.
TEST(PtxTarget, MoePlanKernelIsTheDefaultAndBothFormsAssemble) {
  if (!std::filesystem::exists(kPtxas))
    GTEST_SKIP() << "ptxas not found at " << kPtxas
                 << " (the CUDA toolkit is not installed)";
  for (bool planKernel : {true, false}) {
    codegen::CompileOptions options = ptxOptions();
    if (!planKernel)
      options.moePlanKernel = false;
    for (const char *graph : {"moe_plan", "moe"}) {
      std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/gpu/" + graph +
                       ".mlir");
      std::string text((std::istreambuf_iterator<char>(in)),
                       std::istreambuf_iterator<char>());
      auto exe = compileText(text, options);
      ASSERT_TRUE(exe.ok()) << graph << ": " << exe.status();
      int plans = 0;
      for (const proto::EntryPoint &entry : exe->entries())
        for (const proto::Step &step : entry.steps())
          plans += step.op() == "launch" &&
                   step.launch().kernel().find("moe_plan") != std::string::npos;
      if (planKernel)
        EXPECT_GE(plans, 1) << graph << ": no moe_plan kernel";
      else
        EXPECT_EQ(plans, 0) << graph << ": a moe_plan kernel was not asked for";
      expectEveryModuleAssembles(
          *exe, std::string(graph) +
                    (planKernel ? "-plan-kernel" : "-plan-decomposed"));
    }
  }
}

TEST(PtxTarget, LaunchesPassBuffersAndTheArenaNeverOverlapsLiveBuffers) {
  auto exe = compileText(kGraph, ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  ASSERT_EQ(entry.buffer_offsets_size(), entry.buffers_size());
  int launches = 0;
  for (const proto::Step &step : entry.steps()) {
    ASSERT_TRUE(step.op() == "launch" || step.op() == "alias" ||
                step.op() == "constant")
        << step.op();
    if (step.op() != "launch")
      continue;
    ++launches;
    const proto::Launch &l = step.launch();
    EXPECT_LT(l.module(), exe->modules_size());
    EXPECT_FALSE(l.kernel().empty());
    ASSERT_EQ(l.grid_size(), 3);
    ASSERT_EQ(l.block_size(), 3);
    for (int64_t d : l.grid())
      EXPECT_GE(d, 1);
    EXPECT_EQ(l.scalars_size(), 0);
    EXPECT_EQ(l.buffers_size(), step.inputs_size() + step.outputs_size());
  }
  EXPECT_GT(launches, 8);
  // Arguments are bound at run time; everything else lies inside the arena.
  for (const auto &arg : entry.arguments())
    EXPECT_EQ(entry.buffer_offsets(arg.buffer()), -1);
  for (int i = 0; i < entry.buffers_size(); ++i)
    EXPECT_LE(entry.buffer_offsets(i), entry.arena_bytes());
  EXPECT_GT(entry.arena_bytes(), 0);
}

TEST(PtxTarget, PlannerReusesMemoryOfDeadBuffers) {
  // A chain of elementwise ops: each intermediate dies at the next op, so the
  // arena needs about two buffers, not five.
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<1024xf32>) -> tensor<1024xf32> {
      %a = kiln.exp %x : (tensor<1024xf32>) -> tensor<1024xf32>
      %b = kiln.tanh %a : (tensor<1024xf32>) -> tensor<1024xf32>
      %c = kiln.sin %b : (tensor<1024xf32>) -> tensor<1024xf32>
      %d = kiln.cos %c : (tensor<1024xf32>) -> tensor<1024xf32>
      %e = kiln.sqrt %d : (tensor<1024xf32>) -> tensor<1024xf32>
      return %e : tensor<1024xf32>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  EXPECT_LE(exe->entries(0).arena_bytes(), 2 * 4096);
}

TEST(PtxTarget, ElementwiseProducersFuseIntoTheirConsumer) {
  auto exe = compileText(R"mlir(
    func.func @main(%a: tensor<64x40xf32>, %s: tensor<f32>)
        -> (tensor<64x40xf32>, tensor<64xf32>, tensor<64x40xf32>) {
      %e = kiln.exp %a : (tensor<64x40xf32>) -> tensor<64x40xf32>
      %t = kiln.tanh %e : (tensor<64x40xf32>) -> tensor<64x40xf32>
      %m = kiln.mul %t, %s : (tensor<64x40xf32>, tensor<f32>) -> tensor<64x40xf32>
      %sq = kiln.mul %a, %a : (tensor<64x40xf32>, tensor<64x40xf32>) -> tensor<64x40xf32>
      %sum = kiln.sum %sq {axes = array<i64: 1>, keepdims = false} : (tensor<64x40xf32>) -> tensor<64xf32>
      %c = kiln.cos %a : (tensor<64x40xf32>) -> tensor<64x40xf32>
      %u = kiln.mul %c, %c : (tensor<64x40xf32>, tensor<64x40xf32>) -> tensor<64x40xf32>
      return %m, %sum, %u : tensor<64x40xf32>, tensor<64xf32>, tensor<64x40xf32>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  // exp -> tanh -> mul is one kernel, mul -> sum another; cos has two uses,
  // both in one op, so it fuses into that op's kernel too.
  ASSERT_EQ(entry.steps_size(), 3);
  for (const proto::Step &step : entry.steps())
    EXPECT_EQ(step.op(), "launch");
  EXPECT_EQ(entry.steps(0).inputs_size(),
            2); // a and s, not exp's or tanh's results
  // The flat chain reads and writes 16 bytes per access.
  const std::string &ptx = exe->modules(entry.steps(0).launch().module()).ptx();
  EXPECT_TRUE(absl::StrContains(ptx, "ld.global.v4")) << ptx;
  EXPECT_TRUE(absl::StrContains(ptx, "st.global.v4")) << ptx;
}

TEST(PtxTarget, RowReductionsFuseIntoTheKernelsThatBroadcastThem) {
  auto launchesOf = [](const char *text) -> std::vector<std::string> {
    auto exe = compileText(text, ptxOptions());
    EXPECT_TRUE(exe.ok()) << exe.status();
    std::vector<std::string> kernels;
    if (exe.ok())
      for (const proto::Step &step : exe->entries(0).steps())
        if (step.op() == "launch")
          kernels.push_back(step.launch().kernel());
    return kernels;
  };
  // softmax: max -> sub -> exp in one row kernel (exp is read twice, so it is
  // stored), then sum -> div in another.
  auto softmax = launchesOf(R"mlir(
    func.func @main(%x: tensor<37x300xf32>) -> tensor<37x300xf32> {
      %s = kiln.softmax %x {axis = 1 : i64} : (tensor<37x300xf32>) -> tensor<37x300xf32>
      return %s : tensor<37x300xf32>
    })mlir");
  EXPECT_EQ(softmax.size(), 2u);
  // rms_norm: mean(x*x) -> add eps -> rsqrt -> x * . * w, one kernel.
  auto rmsNorm = launchesOf(R"mlir(
    func.func @main(%x: tensor<11x64xf32>, %w: tensor<64xf32>) -> tensor<11x64xf32> {
      %r = kiln.rms_norm %x, %w {eps = 1.0e-6 : f64} : (tensor<11x64xf32>, tensor<64xf32>) -> tensor<11x64xf32>
      return %r : tensor<11x64xf32>
    })mlir");
  EXPECT_EQ(rmsNorm.size(), 1u);
  // Rows shorter than a warp keep their own reduction kernels.
  auto shortRows = launchesOf(R"mlir(
    func.func @main(%x: tensor<50x7xf32>) -> tensor<50x7xf32> {
      %s = kiln.softmax %x {axis = 1 : i64} : (tensor<50x7xf32>) -> tensor<50x7xf32>
      return %s : tensor<50x7xf32>
    })mlir");
  EXPECT_EQ(shortRows.size(), 4u);
  // A reduction whose consumer feeds another reduction stays its own kernel
  // (the region's root would be a reduction, which has no row phase).
  auto chained = launchesOf(R"mlir(
    func.func @main(%x: tensor<8x64xf32>) -> tensor<8x1xf32> {
      %m = kiln.max %x {axes = array<i64: 1>, keepdims = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
      %d = kiln.sub %x, %m : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
      %s = kiln.sum %d {axes = array<i64: 1>, keepdims = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
      return %s : tensor<8x1xf32>
    })mlir");
  EXPECT_EQ(chained.size(), 2u);
}

template <typename Repeated> std::vector<int64_t> numbers(const Repeated &r) {
  return std::vector<int64_t>(r.begin(), r.end());
}

const char *kTensorCoreMatmuls = R"mlir(
    func.func @main(%a: tensor<200x264xbf16>, %b: tensor<136x264xbf16>, %x: tensor<96x64xbf16>,
                    %w: tensor<4x64x72xbf16>, %o: tensor<4xi64>, %f: tensor<16x24xf32>,
                    %g: tensor<24x8xf32>)
        -> (tensor<200x136xbf16>, tensor<96x72xbf16>, tensor<16x8xf32>) {
      %c = kiln.matmul %a, %b {transpose_a = false, transpose_b = true} : (tensor<200x264xbf16>, tensor<136x264xbf16>) -> tensor<200x136xbf16>
      %y = kiln.grouped_matmul %x, %w, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<96x64xbf16>, tensor<4x64x72xbf16>, tensor<4xi64>) -> tensor<96x72xbf16>
      %h = kiln.matmul %f, %g {transpose_a = false, transpose_b = false} : (tensor<16x24xf32>, tensor<24x8xf32>) -> tensor<16x8xf32>
      return %c, %y, %h : tensor<200x136xbf16>, tensor<96x72xbf16>, tensor<16x8xf32>
    })mlir";

TEST(PtxTarget, HopperMatmulsRunOnWgmmaFedByTma) {
  auto exe = compileText(kTensorCoreMatmuls, ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  ASSERT_EQ(entry.steps_size(), 3);
  auto moduleOf = [&](int step) -> const proto::PtxModule & {
    return exe->modules(entry.steps(step).launch().module());
  };
  // Outputs this small would leave most multiprocessors idle with wider
  // tiles: they take 128 x 64 ones.
  for (int step : {0, 1})
    EXPECT_TRUE(absl::StrContains(
        moduleOf(step).ptx(),
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"));
  for (int step : {0, 1}) {
    const proto::Launch &l = entry.steps(step).launch();
    const std::string &ptx = moduleOf(step).ptx();
    EXPECT_EQ(moduleOf(step).arch(), "sm_90a");
    for (const char *needle :
         {"cp.async.bulk.tensor", "mbarrier.try_wait.parity",
          "mbarrier.arrive.expect_tx", "setmaxnreg.inc", "wgmma.wait_group"})
      EXPECT_TRUE(absl::StrContains(ptx, needle)) << needle;
    // The tensor maps are 128-byte parameters after the buffers, reached by
    // name.
    std::string param = absl::StrCat(l.kernel(), "_param_", l.buffers_size());
    EXPECT_TRUE(absl::StrContains(
        ptx, absl::StrCat(".param .align 64 .b8 ", param, "[128]")));
    EXPECT_TRUE(
        absl::StrContains(ptx, absl::StrCat("mov.b64 t, ", param, ";")));
    EXPECT_EQ(l.block(0), 384); // a producer and two consumer warpgroups
    EXPECT_GT(l.shared_bytes(), 140 * 1024); // six stages of 24 KiB
    ASSERT_EQ(l.tensor_maps_size(), 2);
    EXPECT_EQ(l.tensor_maps(0).buffer(), entry.steps(step).inputs(0));
    EXPECT_EQ(l.tensor_maps(1).buffer(), entry.steps(step).inputs(1));
  }
  // a [200, 264]: K-major 64 x 128 boxes. b^T [136, 264]: K-major 64 x 64
  // boxes.
  const proto::TensorMap &a = entry.steps(0).launch().tensor_maps(0);
  EXPECT_EQ(numbers(a.dims()), (std::vector<int64_t>{264, 200}));
  EXPECT_EQ(numbers(a.strides()), (std::vector<int64_t>{528}));
  EXPECT_EQ(numbers(a.box()), (std::vector<int64_t>{64, 128}));
  EXPECT_EQ(a.swizzle_bytes(), 128);
  EXPECT_EQ(a.dtype(), proto::BF16);
  EXPECT_EQ(numbers(entry.steps(0).launch().tensor_maps(1).box()),
            (std::vector<int64_t>{64, 64}));
  // Grouped w [4, 64, 72]: N-major 64 x 64 chunks, one group per copy.
  const proto::TensorMap &w = entry.steps(1).launch().tensor_maps(1);
  EXPECT_EQ(numbers(w.dims()), (std::vector<int64_t>{72, 64, 4}));
  EXPECT_EQ(numbers(w.strides()), (std::vector<int64_t>{144, 64 * 72 * 2}));
  EXPECT_EQ(numbers(w.box()), (std::vector<int64_t>{64, 64, 1}));
  // f32 keeps exact f32 products (tensor cores would round them to tf32).
  EXPECT_FALSE(absl::StrContains(moduleOf(2).ptx(), "wgmma"));
  EXPECT_EQ(moduleOf(2).arch(), "sm_90");
  expectEveryModuleAssembles(*exe, "wgmma");

  // Outputs that fill the GPU take 128 x 256 tiles (4 stages of 48 KiB).
  auto large = compileText(R"mlir(
    func.func @main(%a: tensor<4096x64xbf16>, %b: tensor<4096x64xbf16>) -> tensor<4096x4096xbf16> {
      %c = kiln.matmul %a, %b {transpose_a = false, transpose_b = true} : (tensor<4096x64xbf16>, tensor<4096x64xbf16>) -> tensor<4096x4096xbf16>
      return %c : tensor<4096x4096xbf16>
    })mlir",
                           ptxOptions());
  ASSERT_TRUE(large.ok()) << large.status();
  const proto::Launch &l = large->entries(0).steps(0).launch();
  EXPECT_TRUE(absl::StrContains(
      large->modules(l.module()).ptx(),
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16"));
  EXPECT_EQ(numbers(l.tensor_maps(1).box()), (std::vector<int64_t>{64, 256}));
  EXPECT_EQ(l.grid(0) * l.grid(1), 16 * 32);
  EXPECT_GT(l.shared_bytes(), 190 * 1024);
}

TEST(PtxTarget, LongKMatmulsWithFewTilesSplitKOverAClusterOfBlocks) {
  // dW = x^T dy over 8192 tokens: 16 output tiles of [512, 256] would leave
  // 116 of 132 multiprocessors idle through 128 steps of K; kiln-select-
  // kernels splits K over clusters of 4.
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<8192x512xbf16>, %dy: tensor<8192x256xbf16>) -> tensor<512x256xbf16> {
      %m = kiln.matmul %x, %dy {transpose_a = true, transpose_b = false} : (tensor<8192x512xbf16>, tensor<8192x256xbf16>) -> tensor<512x256xbf16>
      return %m : tensor<512x256xbf16>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::Launch &l = exe->entries(0).steps(0).launch();
  EXPECT_EQ(numbers(l.cluster()), (std::vector<int64_t>{4, 1, 1}));
  EXPECT_EQ(numbers(l.grid()), (std::vector<int64_t>{4 * 4, 4, 1}));
  // The stages plus the 32 KiB of partial tiles the cluster exchanges.
  EXPECT_GT(l.shared_bytes(), 32 * 1024 + 4 * 24 * 1024);
  const std::string &ptx = exe->modules(l.module()).ptx();
  for (const char *needle :
       {"%cluster_ctarank", "barrier.cluster.arrive", "barrier.cluster.wait",
        "mapa.shared::cluster.u32", "ld.shared::cluster.v2.f32",
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"})
    EXPECT_TRUE(absl::StrContains(ptx, needle)) << needle;
  expectEveryModuleAssembles(*exe, "split_k");

  // A split that would leave a block without K is refused when lowered.
  auto bad = compileText(R"mlir(
    func.func @main(%x: tensor<64x256xbf16>, %w: tensor<384x256xbf16>) -> tensor<64x384xbf16> {
      %0 = kiln.dispatch kernel "wgmma_matmul" {kiln.split_k = 5 : i64} : tensor<64x384xbf16> {
        %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x256xbf16>, tensor<384x256xbf16>) -> tensor<64x384xbf16>
        kiln.yield %m : tensor<64x384xbf16>
      }
      return %0 : tensor<64x384xbf16>
    })mlir",
                         ptxOptions());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "kiln.split_k"))
      << bad.status();
}

TEST(PtxTarget, AHandWrittenTileWidthSetsTheWgmmaTile) {
  // kiln.tile_n = 32: twelve 32-wide tiles of a decode q_a projection, each
  // block's wgmma 32 wide.
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<64x1024xbf16>, %w: tensor<384x1024xbf16>) -> tensor<64x384xbf16> {
      %0 = kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 32 : i64} : tensor<64x384xbf16> {
        %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
        kiln.yield %m : tensor<64x384xbf16>
      }
      return %0 : tensor<64x384xbf16>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::Launch &l = exe->entries(0).steps(0).launch();
  EXPECT_EQ(numbers(l.grid()), (std::vector<int64_t>{12, 1, 1}));
  EXPECT_TRUE(absl::StrContains(
      exe->modules(l.module()).ptx(),
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16"));
  expectEveryModuleAssembles(*exe, "tile_n");

  // 32 wide needs K-major B tiles; 48 is no tile width.
  for (const char *bad : {R"mlir(
    func.func @main(%x: tensor<64x1024xbf16>, %w: tensor<1024x384xbf16>) -> tensor<64x384xbf16> {
      %0 = kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 32 : i64} : tensor<64x384xbf16> {
        %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<64x1024xbf16>, tensor<1024x384xbf16>) -> tensor<64x384xbf16>
        kiln.yield %m : tensor<64x384xbf16>
      }
      return %0 : tensor<64x384xbf16>
    })mlir",
                          R"mlir(
    func.func @main(%x: tensor<64x1024xbf16>, %w: tensor<384x1024xbf16>) -> tensor<64x384xbf16> {
      %0 = kiln.dispatch kernel "wgmma_matmul" {kiln.tile_n = 48 : i64} : tensor<64x384xbf16> {
        %m = kiln.matmul %x, %w {transpose_a = false, transpose_b = true} : (tensor<64x1024xbf16>, tensor<384x1024xbf16>) -> tensor<64x384xbf16>
        kiln.yield %m : tensor<64x384xbf16>
      }
      return %0 : tensor<64x384xbf16>
    })mlir"}) {
    auto refused = compileText(bad, ptxOptions());
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(absl::StrContains(refused.status().message(), "kiln.tile_n"))
        << refused.status();
  }
}

TEST(PtxTarget, HalfPrecisionMatmulsRunOnMmaSyncWithoutWgmma) {
  codegen::CompileOptions options = ptxOptions();
  options.wgmmaMatmul = false;
  auto exe = compileText(kTensorCoreMatmuls, options);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  ASSERT_EQ(entry.steps_size(), 3);
  auto ptxOf = [&](int step) -> const std::string & {
    return exe->modules(entry.steps(step).launch().module()).ptx();
  };
  for (int step : {0, 1}) {
    EXPECT_TRUE(absl::StrContains(
        ptxOf(step), "mma.sync.aligned.m16n8k16.row.col.f32.bf16"));
    EXPECT_TRUE(absl::StrContains(ptxOf(step), "ldmatrix.sync.aligned"));
    EXPECT_TRUE(absl::StrContains(ptxOf(step), "cp.async"));
    // Three stages of 128x32 tiles exceed static shared memory: the launch
    // asks.
    EXPECT_GT(entry.steps(step).launch().shared_bytes(), 48 * 1024);
  }
  // f32 keeps exact f32 products (tensor cores would round them to tf32).
  EXPECT_FALSE(absl::StrContains(ptxOf(2), "mma.sync"));
  EXPECT_EQ(entry.steps(2).launch().shared_bytes(), 0);
}

TEST(PtxTarget, OpsThatAreNotLoopNestsGetDirectKernels) {
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<2x8192xbf16>, %w: tensor<2x9000xf32>, %c: tensor<3x700xf32>,
                    %base: tensor<9x4xf32>, %idx: tensor<30xi64>, %upd: tensor<30x4xf32>,
                    %baseb: tensor<9x4xbf16>, %updb: tensor<30x4xbf16>, %key: tensor<i64>)
        -> (tensor<2x8192xbf16>, tensor<2x5xf32>, tensor<2x5xi64>, tensor<3x700xf32>,
            tensor<9x4xf32>, tensor<9x4xbf16>, tensor<3xi64>) {
      %s = kiln.sort %x {axis = 1 : i64, descending = false} : (tensor<2x8192xbf16>) -> tensor<2x8192xbf16>
      %v, %i = kiln.topk %w {k = 5 : i64} : (tensor<2x9000xf32>) -> (tensor<2x5xf32>, tensor<2x5xi64>)
      %cs = kiln.cumsum %c {axis = 1 : i64, exclusive = false, reverse = true} : (tensor<3x700xf32>) -> tensor<3x700xf32>
      %sa = kiln.scatter_add %base, %idx, %upd {axis = 0 : i64} : (tensor<9x4xf32>, tensor<30xi64>, tensor<30x4xf32>) -> tensor<9x4xf32>
      %sb = kiln.scatter_add %baseb, %idx, %updb {axis = 0 : i64} : (tensor<9x4xbf16>, tensor<30xi64>, tensor<30x4xbf16>) -> tensor<9x4xbf16>
      %r = kiln.random_categorical %key, %c : (tensor<i64>, tensor<3x700xf32>) -> tensor<3xi64>
      return %s, %v, %i, %cs, %sa, %sb, %r : tensor<2x8192xbf16>, tensor<2x5xf32>, tensor<2x5xi64>, tensor<3x700xf32>, tensor<9x4xf32>, tensor<9x4xbf16>, tensor<3xi64>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  std::vector<const proto::Step *> launches;
  for (const proto::Step &step : entry.steps())
    if (step.op() == "launch")
      launches.push_back(&step);
  // sort, topk, cumsum, scatter_add f32 and bf16 (each a copy, then atomics),
  // categorical.
  ASSERT_EQ(launches.size(), 8u);
  auto ptxOf = [&](int i) -> const std::string & {
    return exe->modules(launches[i]->launch().module()).ptx();
  };
  // An 8192-element row sorts in shared memory: a block per row, barriers
  // between the network's steps, 64 KiB of dynamic shared memory.
  EXPECT_TRUE(absl::StrContains(ptxOf(0), "bar.sync")) << ptxOf(0);
  EXPECT_EQ(launches[0]->launch().grid(0), 2);
  EXPECT_GT(launches[0]->launch().shared_bytes(), 64 * 1024);
  // 9000 elements is past the bitonic limit: one thread per element ranks
  // itself.
  EXPECT_FALSE(absl::StrContains(ptxOf(1), "bar.sync"));
  EXPECT_EQ(launches[1]->launch().grid(0) * launches[1]->launch().block(0) >=
                2 * 9000,
            true);
  // The scan shuffles up inside warps, then combines warps through shared
  // memory.
  EXPECT_TRUE(absl::StrContains(ptxOf(2), "shfl.sync.up")) << ptxOf(2);
  EXPECT_TRUE(absl::StrContains(ptxOf(2), "bar.sync"));
  EXPECT_EQ(launches[2]->launch().grid(0), 3);
  // scatter_add: a copy, then atomic adds in the element type.
  EXPECT_TRUE(absl::StrContains(ptxOf(4), "atom.global.add.f32")) << ptxOf(4);
  // bf16 rows of even length add neighbouring pairs with one packed reduction.
  EXPECT_TRUE(absl::StrContains(ptxOf(6), "red.global.add.noftz.bf16x2"))
      << ptxOf(6);
  // Categorical sampling reduces (score, index) pairs with butterflies.
  EXPECT_TRUE(absl::StrContains(ptxOf(7), "shfl.sync.bfly")) << ptxOf(7);
  expectEveryModuleAssembles(*exe, "direct");
}

TEST(PtxTarget, LongArgsortsSortTheirIndicesInPlace) {
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<4x32000xbf16>) -> tensor<4x32000xi64> {
      %o = kiln.argsort %x {axis = 1 : i64, descending = true} : (tensor<4x32000xbf16>) -> tensor<4x32000xi64>
      return %o : tensor<4x32000xi64>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  // A vocabulary-wide row (padded to 2^15): 16 chunks of 2048 per row sorted in
  // shared memory, then merge stages 12..15, each a grid-wide mirror step, its
  // grid-wide steps of distance >= 2048 (0, 1, 2, 3 of them), and one chunk
  // kernel.
  ASSERT_EQ(entry.steps_size(), 1 + 4 * 2 + (0 + 1 + 2 + 3));
  EXPECT_TRUE(
      absl::StrContains(entry.steps(0).launch().kernel(), "chunk_sort"));
  EXPECT_EQ(entry.steps(0).launch().grid(0), 4 * 16);
  const proto::Step &last = entry.steps(entry.steps_size() - 1);
  EXPECT_TRUE(absl::StrContains(last.launch().kernel(), "merge15_chunk"));
  EXPECT_TRUE(absl::StrContains(exe->modules(last.launch().module()).ptx(),
                                "bar.sync"));
  // Grid-wide steps: a thread per compare-exchange pair, 2^14 per row.
  const proto::Step &mirror = entry.steps(1);
  EXPECT_TRUE(absl::StrContains(mirror.launch().kernel(), "merge12_mirror"));
  EXPECT_EQ(mirror.launch().grid(0) * mirror.launch().block(0), 4 * 16384);
  expectEveryModuleAssembles(*exe, "argsort");
}

TEST(PtxTarget, BincountZeroesThenCountsWithAtomics) {
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<24576xi64>) -> tensor<64xi64> {
      %c = kiln.bincount %x {length = 64 : i64} : (tensor<24576xi64>) -> tensor<64xi64>
      return %c : tensor<64xi64>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  ASSERT_EQ(entry.steps_size(), 2);
  // One thread per value, not per bin.
  EXPECT_EQ(entry.steps(1).launch().grid(0) * entry.steps(1).launch().block(0),
            24576);
  EXPECT_TRUE(
      absl::StrContains(exe->modules(entry.steps(1).launch().module()).ptx(),
                        "atom.global.add.u64"));
  expectEveryModuleAssembles(*exe, "bincount");
}

TEST(PtxTarget, AttentionIsOneFusedKernelWhereItsRowsFit) {
  auto kernels = [](const char *text) {
    auto exe = compileText(text, ptxOptions());
    EXPECT_TRUE(exe.ok()) << exe.status();
    std::vector<std::string> names;
    if (exe.ok()) {
      for (const proto::Step &step : exe->entries(0).steps())
        if (step.op() == "launch")
          names.push_back(step.launch().kernel());
      expectEveryModuleAssembles(*exe, "attention");
    }
    return names;
  };
  auto fused = kernels(R"mlir(
    func.func @main(%q: tensor<2x8x13x40xbf16>, %k: tensor<2x2x37x40xbf16>, %v: tensor<2x2x37x24xbf16>,
                    %len: tensor<2xi64>) -> tensor<2x8x13x24xbf16> {
      %a = kiln.attention %q, %k, %v, %len {scale = 0.158 : f64, causal = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<2x8x13x40xbf16>, tensor<2x2x37x40xbf16>, tensor<2x2x37x24xbf16>, tensor<2xi64>) -> tensor<2x8x13x24xbf16>
      return %a : tensor<2x8x13x24xbf16>
    })mlir");
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_TRUE(absl::StrContains(fused[0], "attention"));
  // 9000 keys a row exceed the kernel's shared memory: decomposed, still right.
  auto decomposed = kernels(R"mlir(
    func.func @main(%q: tensor<1x1x2x16xf32>, %k: tensor<1x1x9000x16xf32>, %v: tensor<1x1x9000x8xf32>) -> tensor<1x1x2x8xf32> {
      %a = kiln.attention %q, %k, %v {scale = 0.25 : f64, causal = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x1x2x16xf32>, tensor<1x1x9000x16xf32>, tensor<1x1x9000x8xf32>) -> tensor<1x1x2x8xf32>
      return %a : tensor<1x1x2x8xf32>
    })mlir");
  EXPECT_GT(decomposed.size(), 1u);
  for (const std::string &name : decomposed)
    EXPECT_FALSE(absl::StrContains(name, "attention")) << name;
}

TEST(PtxTarget, MatmulProviderRoutesMatmulsToCublas) {
  const char *graph = R"mlir(
    func.func @main(%a: tensor<200x264xbf16>, %b: tensor<136x264xbf16>, %x: tensor<4x8x16xf32>,
                    %w: tensor<16x5xf32>, %g: tensor<96x64xbf16>, %e: tensor<4x64x72xbf16>,
                    %o: tensor<4xi64>, %xt: tensor<4x16x8xf32>)
        -> (tensor<200x136xbf16>, tensor<4x8x5xf32>, tensor<96x72xbf16>, tensor<4x8x5xf32>) {
      %c = kiln.matmul %a, %b {transpose_a = false, transpose_b = true} : (tensor<200x264xbf16>, tensor<136x264xbf16>) -> tensor<200x136xbf16>
      %y = kiln.matmul %xt, %w {transpose_a = true, transpose_b = false} : (tensor<4x16x8xf32>, tensor<16x5xf32>) -> tensor<4x8x5xf32>
      %r = kiln.grouped_matmul %g, %e, %o {mode = #kiln.grouped_mode<rows>, transpose_w = false} : (tensor<96x64xbf16>, tensor<4x64x72xbf16>, tensor<4xi64>) -> tensor<96x72xbf16>
      %f = kiln.matmul %x, %w {transpose_a = false, transpose_b = false} : (tensor<4x8x16xf32>, tensor<16x5xf32>) -> tensor<4x8x5xf32>
      return %c, %y, %r, %f : tensor<200x136xbf16>, tensor<4x8x5xf32>, tensor<96x72xbf16>, tensor<4x8x5xf32>
    })mlir";
  codegen::CompileOptions options = ptxOptions();
  options.providers = {"matmul=cublas"};
  auto exe = compileText(graph, options);
  ASSERT_TRUE(exe.ok()) << exe.status();
  const proto::EntryPoint &entry = exe->entries(0);
  ASSERT_EQ(entry.steps_size(), 4);
  const proto::Gemm &nt = entry.steps(0).gemm();
  EXPECT_EQ(entry.steps(0).op(), "gemm");
  EXPECT_EQ(nt.provider(), "cublas");
  EXPECT_EQ(nt.m(), 200);
  EXPECT_EQ(nt.n(), 136);
  EXPECT_EQ(nt.k(), 264);
  EXPECT_EQ(nt.batch(), 1);
  EXPECT_TRUE(nt.transpose_b());
  const proto::Gemm &batched = entry.steps(1).gemm();
  EXPECT_EQ(entry.steps(1).op(), "gemm");
  EXPECT_EQ(batched.batch(), 4);
  EXPECT_FALSE(batched.broadcast_a());
  EXPECT_TRUE(batched.broadcast_b());
  // Only kiln.matmul has the provider; the MoE GEMM stays Kiln's kernel.
  EXPECT_EQ(entry.steps(2).op(), "launch");
  // A batched [4, 8, 16] against one shared B is one [32, 16] GEMM.
  const proto::Gemm &folded = entry.steps(3).gemm();
  EXPECT_EQ(folded.batch(), 1);
  EXPECT_EQ(folded.m(), 32);
  EXPECT_FALSE(folded.broadcast_b());

  // Off by default; a provider the build lacks, or one on the host target, is
  // an error.
  auto plain = compileText(graph, ptxOptions());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->entries(0).steps(0).op(), "launch");
  options.providers = {"matmul=rocblas"};
  auto bad = compileText(graph, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(),
                                "unknown provider 'matmul=rocblas'"))
      << bad.status();
  codegen::CompileOptions host;
  host.providers = {"matmul=cublas"};
  auto onHost = compileText(graph, host);
  ASSERT_FALSE(onHost.ok());
  EXPECT_TRUE(absl::StrContains(onHost.status().message(), "ptx target only"))
      << onHost.status();
}

TEST(PtxTarget, ScalarSliceAndUpdateCompile) {
  // The degenerate rank-0 forms (no start indices: the whole scalar).
  auto exe = compileText(R"mlir(
    func.func @main(%x: tensor<f32>, %u: tensor<f32>, %s: tensor<0xi64>) -> (tensor<f32>, tensor<f32>) {
      %y = kiln.dynamic_update_slice %x, %u, %s : (tensor<f32>, tensor<f32>, tensor<0xi64>) -> tensor<f32>
      %z = kiln.slice %x {start = array<i64>, limit = array<i64>, stride = array<i64>} : (tensor<f32>) -> tensor<f32>
      return %y, %z : tensor<f32>, tensor<f32>
    })mlir",
                         ptxOptions());
  ASSERT_TRUE(exe.ok()) << exe.status();
  expectEveryModuleAssembles(*exe, "scalar");
}

} // namespace
} // namespace kiln::testing
