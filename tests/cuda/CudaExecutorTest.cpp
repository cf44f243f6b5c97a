// The CUDA executor against the CPU executor on hand-written PTX: results, state
// donation, CUDA graph replay, and the errors (no GPU, OOM, bad PTX, faulting kernel).
// Tests that need a GPU skip, saying why, where none is present.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "executor/cuda/CudaApi.h"
#include "executor/cuda/CudaExecutor.h"
#include "executor/cuda/CublasApi.h"
#include "tests/cuda/PtxTestPrograms.h"

namespace kiln {
namespace {
using namespace test;

#define KILN_REQUIRE_GPU()                                                             \
  do {                                                                                 \
    auto api = cuda::loadCudaApi();                                                    \
    if (!api.ok())                                                                     \
      GTEST_SKIP() << "needs a CUDA GPU: " << api.status().message();                  \
  } while (false)

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

HostTensor randomNormal(proto::TensorType type, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d;
  HostTensor t(type.dtype(), std::vector<int64_t>(type.shape().begin(), type.shape().end()));
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setDouble(i, d(gen));
  return t;
}

double maxDiff(const HostTensor &a, const HostTensor &b) {
  EXPECT_EQ(a.typeString(), b.typeString());
  double m = 0;
  for (int64_t i = 0; i < a.numElements(); ++i) {
    double d = std::abs(a.getDouble(i) - b.getDouble(i));
    m = std::isnan(d) ? INFINITY : std::max(m, d);
  }
  return m;
}

TEST(CudaApi, LoadsOrSaysWhy) {
  auto api = cuda::loadCudaApi();
  if (api.ok()) {
    EXPECT_NE((*api)->cuLaunchKernel, nullptr);
    return;
  }
  EXPECT_TRUE(contains(api.status(), "no CUDA driver") || contains(api.status(), "no CUDA device"))
      << api.status();
  // The executor reports the same reason as a value, after validating the Executable.
  auto x = CudaExecutor::create(elementwiseTwin("ptx"));
  ASSERT_FALSE(x.ok());
  EXPECT_EQ(x.status().message(), api.status().message());
}

TEST(CudaExecutor, RejectsHostExecutable) {
  auto x = CudaExecutor::create(elementwiseTwin("host"));
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(contains(x.status(), "targets 'host'")) << x.status();
}

TEST(CudaExecutor, RejectsUnplannedBuffers) {
  proto::Executable exe = elementwiseTwin("ptx");
  exe.mutable_entries(0)->clear_buffer_offsets();
  auto x = CudaExecutor::create(exe);
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(contains(x.status(), "entry 'step' has 0 buffer offsets for 4 buffers"))
      << x.status();

  exe = elementwiseTwin("ptx");
  exe.mutable_entries(0)->mutable_steps(0)->set_op("convolve");
  x = CudaExecutor::create(exe);
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(contains(x.status(), "unknown op 'convolve'")) << x.status();
  EXPECT_TRUE(contains(x.status(), "step.mlir:3:8")) << x.status();
}

// A buffer type whose byte size wraps int64 would size a short allocation.
TEST(CudaExecutor, RejectsOverflowingBufferTypes) {
  proto::Executable exe = elementwiseTwin("ptx");
  proto::TensorType *t = exe.mutable_entries(0)->mutable_buffers(0);
  t->clear_shape();
  t->add_shape(int64_t{1} << 32);
  t->add_shape(int64_t{1} << 32);
  auto x = CudaExecutor::create(exe);
  ASSERT_FALSE(x.ok());
  EXPECT_TRUE(contains(x.status(), "overflows a 64-bit integer")) << x.status();
}

TEST(CudaExecutor, TensorMapsAreValidated) {
  // Each case edits a tensor map over the first launch's first buffer (f32[1000]).
  auto error = [](const std::function<void(proto::TensorMap &)> &edit) {
    proto::Executable exe = elementwiseTwin("ptx");
    proto::EntryPoint *ep = exe.mutable_entries(0);
    for (proto::Step &s : *ep->mutable_steps()) {
      if (s.op() != "launch")
        continue;
      proto::TensorMap *m = s.mutable_launch()->add_tensor_maps();
      m->set_buffer(s.launch().buffers(0));
      m->set_dtype(proto::F32);
      m->add_dims(1000);
      m->add_box(32);
      edit(*m);
      break;
    }
    auto x = CudaExecutor::create(exe);
    return x.ok() ? absl::OkStatus() : x.status();
  };
  absl::Status s = error([](proto::TensorMap &) {});
  EXPECT_FALSE(contains(s, "tensor map")) << s; // valid (only a missing GPU may fail)
  s = error([](proto::TensorMap &m) { m.set_buffer(m.buffer() + 100); });
  EXPECT_TRUE(contains(s, "is not one of the launch's")) << s;
  EXPECT_TRUE(contains(s, "step.mlir")) << s;
  s = error([](proto::TensorMap &m) { m.set_dims(0, 2000); });
  EXPECT_TRUE(contains(s, "reach byte 8000 of a 4000-byte buffer")) << s;
  s = error([](proto::TensorMap &m) {
    m.set_dims(0, 10);
    m.add_dims(100);
    m.add_strides(40);
    m.add_box(1);
  });
  EXPECT_TRUE(contains(s, "stride 40 bytes is not a positive multiple of 16")) << s;
  s = error([](proto::TensorMap &m) { m.set_box(0, 300); });
  EXPECT_TRUE(contains(s, "box size 300 is outside [1, 256]")) << s;
  s = error([](proto::TensorMap &m) { m.set_swizzle_bytes(64); });
  EXPECT_TRUE(contains(s, "(128 bytes) exceeds the 64-byte swizzle span")) << s;
  s = error([](proto::TensorMap &m) { m.set_dtype(proto::I1); });
  EXPECT_TRUE(contains(s, "dtype I1 has no tensor-map type")) << s;
}

TEST(CudaExecutor, ClusterDimsAreValidated) {
  // Each case sets the first launch's grid and thread-block cluster.
  auto error = [](std::vector<int64_t> grid, std::vector<int64_t> cluster) {
    proto::Executable exe = elementwiseTwin("ptx");
    for (proto::Step &s : *exe.mutable_entries(0)->mutable_steps()) {
      if (s.op() != "launch")
        continue;
      proto::Launch *l = s.mutable_launch();
      l->clear_grid();
      for (int64_t d : grid)
        l->add_grid(d);
      for (int64_t d : cluster)
        l->add_cluster(d);
      break;
    }
    auto x = CudaExecutor::create(exe);
    return x.ok() ? absl::OkStatus() : x.status();
  };
  absl::Status s = error({8, 2, 1}, {4, 1, 1});
  EXPECT_FALSE(contains(s, "cluster"))
      << s; // valid (only a missing GPU may fail)
  s = error({6, 1, 1}, {4, 1, 1});
  EXPECT_TRUE(
      contains(s, "cluster dimension 4 does not divide grid dimension 6"))
      << s;
  EXPECT_TRUE(contains(s, "step.mlir")) << s;
  s = error({32, 1, 1}, {16, 1, 1});
  EXPECT_TRUE(contains(s, "a cluster of 16 blocks")) << s;
  s = error({8, 1, 1}, {0, 1, 1});
  EXPECT_TRUE(contains(s, "cluster dimension 0")) << s;
}

/// c[batch, m, n] = a[batch, m, k] @ b[k, n] (b broadcast), f32, as one gemm step.
proto::Executable gemmExecutable(int64_t batch, int64_t m, int64_t n, int64_t k) {
  proto::Executable exe;
  exe.set_target("ptx");
  exe.set_compiler_version("test-0");
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name("gemm");
  *ep->add_buffers() = f32({batch, m, k});
  *ep->add_buffers() = f32({k, n});
  *ep->add_buffers() = f32({batch, m, n});
  for (int i = 0; i < 2; ++i) {
    proto::Argument *a = ep->add_arguments();
    a->set_name(i == 0 ? "a" : "b");
    a->set_buffer(i);
  }
  proto::Result *r = ep->add_results();
  r->set_name("c");
  r->set_buffer(2);
  r->set_aliases_argument(-1);
  proto::Step *s = ep->add_steps();
  s->set_op("gemm");
  s->add_inputs(0);
  s->add_inputs(1);
  s->add_outputs(2);
  s->set_location("gemm.mlir:2:8");
  proto::Gemm *g = s->mutable_gemm();
  g->set_provider("cublas");
  g->set_m(m);
  g->set_n(n);
  g->set_k(k);
  g->set_batch(batch);
  g->set_broadcast_b(batch > 1);
  for (int64_t off : {int64_t{-1}, int64_t{-1}, int64_t{0}})
    ep->add_buffer_offsets(off);
  ep->set_arena_bytes(alignUp(batch * m * n * 4));
  return exe;
}

TEST(CudaExecutor, GemmStepsAreValidated) {
  auto error = [](proto::Executable exe) {
    auto x = CudaExecutor::create(exe);
    EXPECT_FALSE(x.ok());
    return x.ok() ? absl::OkStatus() : x.status();
  };
  proto::Executable exe = gemmExecutable(3, 4, 5, 6);
  exe.mutable_entries(0)->mutable_steps(0)->mutable_gemm()->set_provider("rocblas");
  absl::Status s = error(exe);
  EXPECT_TRUE(contains(s, "unknown gemm provider 'rocblas'")) << s;
  EXPECT_TRUE(contains(s, "gemm.mlir:2:8")) << s;

  exe = gemmExecutable(3, 4, 5, 6);
  exe.mutable_entries(0)->mutable_steps(0)->mutable_gemm()->set_m(7);
  s = error(exe);
  EXPECT_TRUE(contains(s, "does not match buffers")) << s;

  exe = gemmExecutable(3, 4, 5, 6);
  exe.mutable_entries(0)->mutable_buffers(1)->set_dtype(proto::I32);
  s = error(exe);
  EXPECT_TRUE(contains(s, "gemm needs one dtype")) << s;
}

TEST(CublasApi, NamesWhatItTried) {
  auto api = cuda::openCublas({"/nonexistent/libcublas.so.99"});
  ASSERT_FALSE(api.ok());
  EXPECT_TRUE(contains(api.status(), "/nonexistent/libcublas.so.99")) << api.status();
  EXPECT_TRUE(contains(api.status(), "KILN_CUBLAS_LIBRARY")) << api.status();
  setenv("KILN_CUBLAS_LIBRARY", "/opt/custom/libcublas.so", 1);
  EXPECT_EQ(cuda::cublasCandidates(), std::vector<std::string>{"/opt/custom/libcublas.so"});
  unsetenv("KILN_CUBLAS_LIBRARY");
  // Where the toolkit's cuBLAS is present (no GPU needed to open it), every entry
  // point Kiln binds must resolve.
  const char *toolkit = "/usr/local/cuda/lib64/libcublas.so";
  if (!std::filesystem::exists(toolkit))
    GTEST_SKIP() << "no " << toolkit << " to bind against";
  auto real = cuda::openCublas({toolkit});
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_NE(real->cublasGemmStridedBatchedEx, nullptr);
}

TEST(CudaExecutor, CublasGemmMatchesCpu) {
  KILN_REQUIRE_GPU();
  auto api = cuda::loadCublas();
  if (!api.ok())
    GTEST_SKIP() << "needs cuBLAS: " << api.status().message();
  const int64_t batch = 3, m = 37, n = 29, k = 71;
  auto x = CudaExecutor::create(gemmExecutable(batch, m, n, k));
  ASSERT_TRUE(x.ok()) << x.status();
  HostTensor a = randomNormal(f32({batch, m, k}), 1), b = randomNormal(f32({k, n}), 2);
  auto got = (*x)->run("gemm", {a, b});
  ASSERT_TRUE(got.ok()) << got.status();
  HostTensor want(proto::F32, {batch, m, n});
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q)
          acc += a.getDouble((p * m + i) * k + q) * b.getDouble(q * n + j);
        want.setDouble((p * m + i) * n + j, acc);
      }
  EXPECT_LT(maxDiff(want, (*got)[0]), 1e-3);
}

// Every hand-written kernel must assemble, so invalid PTX fails CI before a GPU sees it.
TEST(CudaExecutor, TestPtxAssembles) {
  const char *ptxas = "/usr/local/cuda/bin/ptxas";
  if (!std::filesystem::exists(ptxas))
    GTEST_SKIP() << "no ptxas at " << ptxas;
  std::string dir = testing::TempDir();
  int k = 0;
  for (const std::string &ptx : {elementwisePtx(), wildStorePtx()}) {
    std::string path = dir + "/kiln_test_" + std::to_string(k++) + ".ptx";
    std::ofstream(path) << ptx;
    std::string cmd =
        std::string(ptxas) + " -arch=sm_90 " + path + " -o " + path + ".cubin 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
}

// Runs `step` three times and `affine` once on both executors from the same initial
// state and inputs; the f32 adds and multiplies are correctly rounded on both sides.
void expectMatchesCpu(bool inPlace, bool useGraph) {
  auto cpu = Executor::create(elementwiseTwin("host", inPlace));
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  CudaExecutorOptions opts;
  opts.useCudaGraph = useGraph;
  auto gpu = CudaExecutor::create(elementwiseTwin("ptx", inPlace), opts);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ASSERT_TRUE((*cpu)->initializeState().ok());
  ASSERT_TRUE((*gpu)->initializeState().ok());
  auto w0cpu = (*cpu)->getState("w"), w0gpu = (*gpu)->getState("w");
  ASSERT_TRUE(w0gpu.ok()) << w0gpu.status();
  EXPECT_EQ(maxDiff(*w0cpu, *w0gpu), 0) << "initial state differs";
  const proto::EntryPoint *step = (*gpu)->entry("step");
  for (int call = 0; call < 3; ++call) {
    HostTensor x = randomNormal(step->buffers(1), 100 + call);
    auto yc = (*cpu)->run("step", {x});
    auto yg = (*gpu)->run("step", {x});
    ASSERT_TRUE(yc.ok()) << yc.status();
    ASSERT_TRUE(yg.ok()) << yg.status();
    ASSERT_EQ(yg->size(), 1u);
    EXPECT_EQ(maxDiff((*yc)[0], (*yg)[0]), 0) << "call " << call;
    auto wc = (*cpu)->getState("w"), wg = (*gpu)->getState("w");
    ASSERT_TRUE(wg.ok()) << wg.status();
    EXPECT_EQ(maxDiff(*wc, *wg), 0) << "donated state after call " << call;
  }
  // setState keeps the resident buffer, so a captured graph stays valid.
  HostTensor w = randomNormal((*gpu)->executable().state(0).type(), 5);
  ASSERT_TRUE((*cpu)->setState("w", w).ok());
  ASSERT_TRUE((*gpu)->setState("w", w).ok());
  HostTensor x = randomNormal(step->buffers(1), 9);
  auto yc = (*cpu)->runNamed("step", {{"x", x}});
  auto yg = (*gpu)->runNamed("step", {{"x", x}});
  ASSERT_TRUE(yg.ok()) << yg.status();
  EXPECT_EQ(maxDiff(yc->at("y"), yg->at("y")), 0);

  HostTensor ax = randomNormal((*gpu)->entry("affine")->buffers(0), 11);
  for (int call = 0; call < 2; ++call) {
    auto ac = (*cpu)->run("affine", {ax});
    auto ag = (*gpu)->run("affine", {ax});
    ASSERT_TRUE(ag.ok()) << ag.status();
    EXPECT_EQ((*ag)[0].typeString(), "f32[2,500]");
    EXPECT_EQ(maxDiff((*ac)[0], (*ag)[0]), 0);
  }
  EXPECT_EQ((*gpu)->lastPeakBytes(), (*gpu)->entry("affine")->arena_bytes() + 4000);
}

TEST(CudaExecutor, MatchesCpuWithInPlaceDonation) {
  KILN_REQUIRE_GPU();
  expectMatchesCpu(/*inPlace=*/true, /*useGraph=*/false);
}

TEST(CudaExecutor, MatchesCpuWithDonationThroughArena) {
  KILN_REQUIRE_GPU();
  expectMatchesCpu(/*inPlace=*/false, /*useGraph=*/false);
}

TEST(CudaExecutor, CudaGraphReplayMatchesCpu) {
  KILN_REQUIRE_GPU();
  expectMatchesCpu(/*inPlace=*/true, /*useGraph=*/true);
  expectMatchesCpu(/*inPlace=*/false, /*useGraph=*/true);
}

TEST(CudaExecutor, BadInputsAreErrors) {
  KILN_REQUIRE_GPU();
  auto gpu = CudaExecutor::create(elementwiseTwin("ptx"));
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  auto r = (*gpu)->run("step", {HostTensor(proto::F32, {3})});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.status(), "argument 'x': expected f32[1000], given f32[3]")) << r.status();
  r = (*gpu)->run("nope", {});
  EXPECT_TRUE(contains(r.status(), "entries are: step, affine")) << r.status();
  auto s = (*gpu)->getState("w");
  EXPECT_TRUE(contains(s.status(), "has no value yet")) << s.status();
}

TEST(CudaExecutor, OutOfMemoryNamesEntryAndBytes) {
  KILN_REQUIRE_GPU();
  proto::Executable exe = elementwiseTwin("ptx");
  exe.mutable_entries(0)->set_arena_bytes(int64_t{1} << 50);
  auto gpu = CudaExecutor::create(exe);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  ASSERT_TRUE((*gpu)->initializeState().ok());
  auto r = (*gpu)->run("step", {HostTensor(proto::F32, {1000})});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(contains(r.status(), "entry 'step' arena")) << r.status();
  EXPECT_TRUE(contains(r.status(), "1125899906842624 bytes")) << r.status();
  // The executor stays usable: another entry still runs.
  auto a = (*gpu)->run("affine", {HostTensor(proto::F32, {2, 500})});
  EXPECT_TRUE(a.ok()) << a.status();
}

TEST(CudaExecutor, BadPtxSurfacesJitLog) {
  KILN_REQUIRE_GPU();
  proto::Executable exe = elementwiseTwin("ptx");
  std::string ptx = exe.modules(0).ptx();
  ptx.replace(ptx.find("add.rn.f32"), 10, "add.rn.f33");
  exe.mutable_modules(0)->set_ptx(ptx);
  auto gpu = CudaExecutor::create(exe);
  ASSERT_FALSE(gpu.ok());
  EXPECT_TRUE(contains(gpu.status(), "PTX module 'elementwise'")) << gpu.status();
  EXPECT_TRUE(contains(gpu.status(), "JIT log:")) << gpu.status();
  std::printf("bad PTX error, as reported:\n%s\n", std::string(gpu.status().message()).c_str());
}

TEST(CudaExecutor, MissingKernelNamesStep) {
  KILN_REQUIRE_GPU();
  proto::Executable exe = elementwiseTwin("ptx");
  exe.mutable_entries(0)->mutable_steps(0)->mutable_launch()->set_kernel("gelu_f32");
  auto gpu = CudaExecutor::create(exe);
  ASSERT_FALSE(gpu.ok());
  EXPECT_TRUE(contains(gpu.status(), "has no kernel 'gelu_f32'")) << gpu.status();
  EXPECT_TRUE(contains(gpu.status(), "step.mlir:3:8")) << gpu.status();
}

// A fault poisons the process's CUDA context, so it runs in a child process
// ("threadsafe" death tests re-execute the binary) and reports through stderr.
TEST(CudaExecutorDeathTest, FaultingKernelIsNamed) {
  KILN_REQUIRE_GPU();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (bool syncEach : {false, true}) {
    EXPECT_EXIT(
        {
          CudaExecutorOptions opts;
          opts.syncAfterEachLaunch = syncEach;
          auto gpu = CudaExecutor::create(wildStoreExe(), opts);
          if (!gpu.ok()) {
            std::fprintf(stderr, "create failed: %s\n", gpu.status().ToString().c_str());
            std::exit(2);
          }
          auto r = (*gpu)->run("scribble", {});
          std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
          auto again = (*gpu)->run("scribble", {});
          std::fprintf(stderr, "again: %s\n", again.status().ToString().c_str());
          std::exit(r.ok() ? 1 : 0);
        },
        testing::ExitedWithCode(0),
        "a kernel failed in entry 'scribble' step 0 \\(kernel 'wild_store' at wild.mlir:7:3\\)"
        ".*CUDA_ERROR_.*\n.*again: .*kernel 'wild_store'");
  }
}

// Writes the host/ptx bundle that kiln-run checks; KILN_TEST_BUNDLE_DIR keeps it (and
// a text-format copy in DIR-text).
TEST(CudaBundle, WritesElementwiseBundle) {
  const char *keep = std::getenv("KILN_TEST_BUNDLE_DIR");
  std::string dir = keep ? keep : testing::TempDir() + "/kiln_elementwise_bundle";
  ASSERT_TRUE(writeElementwiseBundle(dir).ok());
  ASSERT_TRUE(writeElementwiseBundle(dir + "-text", /*text=*/true).ok());
  auto bundle = openBundle(dir);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->entries().size(), 2u);
  for (const BundleEntry &e : bundle->entries()) {
    auto exe = bundle->load(e.key);
    ASSERT_TRUE(exe.ok()) << exe.status();
    EXPECT_EQ(exe->target(), e.key.target);
  }
}

} // namespace
} // namespace kiln
