// Hand-written PTX kernels and hand-built host/ptx Executable twins for the CUDA
// executor tests and for the small bundle that kiln-run checks on the GPU machine.
#ifndef KILN_TESTS_CUDA_PTXTESTPROGRAMS_H
#define KILN_TESTS_CUDA_PTXTESTPROGRAMS_H

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "executor/Bundle.h"
#include "executor/Executor.h"
#include "executor/HostTensor.h"

namespace kiln::test {

/// out[i] = a[i] <op> b[i] for i < n; parameters (a, b, out, n) in the bare-pointer
/// convention of proto::Launch.
inline std::string binaryKernelPtx(const std::string &name, const std::string &op) {
  return absl::StrCat(R"(
.visible .entry )", name, R"((
  .param .u64 pa, .param .u64 pb, .param .u64 pout, .param .u64 pn)
{
  .reg .pred %p<2>;
  .reg .b32 %r<5>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<11>;
  ld.param.u64 %rd1, [pa];
  ld.param.u64 %rd2, [pb];
  ld.param.u64 %rd3, [pout];
  ld.param.u64 %rd4, [pn];
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  cvta.to.global.u64 %rd3, %rd3;
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.s32 %r4, %r1, %r2, %r3;
  cvt.u64.u32 %rd5, %r4;
  setp.ge.s64 %p1, %rd5, %rd4;
  @%p1 bra DONE;
  shl.b64 %rd6, %rd5, 2;
  add.s64 %rd7, %rd1, %rd6;
  add.s64 %rd8, %rd2, %rd6;
  add.s64 %rd9, %rd3, %rd6;
  ld.global.f32 %f1, [%rd7];
  ld.global.f32 %f2, [%rd8];
  )", op, R"(.rn.f32 %f3, %f1, %f2;
  st.global.f32 [%rd9], %f3;
DONE:
  ret;
}
)");
}

inline constexpr const char *kPtxHeader = ".version 8.0\n.target sm_90\n.address_size 64\n";

inline std::string elementwisePtx() {
  return absl::StrCat(kPtxHeader, binaryKernelPtx("add_f32", "add"),
                      binaryKernelPtx("mul_f32", "mul"));
}

/// Stores 1.0f at out + offset bytes: with a huge offset, an illegal address.
inline std::string wildStorePtx() {
  return absl::StrCat(kPtxHeader, R"(
.visible .entry wild_store(.param .u64 pout, .param .u64 poffset)
{
  .reg .b64 %rd<4>;
  .reg .f32 %f<2>;
  ld.param.u64 %rd1, [pout];
  ld.param.u64 %rd2, [poffset];
  add.s64 %rd3, %rd1, %rd2;
  mov.f32 %f1, 0f3F800000;
  st.global.f32 [%rd3], %f1;
  ret;
}
)");
}

inline proto::TensorType f32(std::vector<int64_t> shape) {
  return makeType(proto::F32, shape);
}

inline int64_t alignUp(int64_t x) { return (x + 255) / 256 * 256; }

inline void addLaunch(proto::EntryPoint *ep, const std::string &kernel, std::vector<int> ins,
                      int out, int64_t n, const std::string &loc) {
  proto::Step *s = ep->add_steps();
  s->set_op("launch");
  s->set_location(loc);
  proto::Launch *l = s->mutable_launch();
  l->set_module(0);
  l->set_kernel(kernel);
  l->add_grid((n + 255) / 256);
  l->add_block(256);
  for (int b : ins) {
    s->add_inputs(b);
    l->add_buffers(b);
  }
  s->add_outputs(out);
  l->add_buffers(out);
  l->add_scalars(n);
}

inline void addStep(proto::EntryPoint *ep, const std::string &op, std::vector<int> ins,
                    std::vector<int> outs, const std::string &loc) {
  proto::Step *s = ep->add_steps();
  s->set_op(op);
  s->set_location(loc);
  for (int b : ins)
    s->add_inputs(b);
  for (int b : outs)
    s->add_outputs(b);
}

/// The twins of one program, for `target` "host" or "ptx":
///   state w: f32[n], normal(0, 1) seeded;
///   entry "step"(w, x): y = w * x returned, w' = w + x donated back into w. With
///     `inPlace` the ptx twin's add writes w's own bytes (through an alias step);
///     otherwise it writes the arena and the executor moves it into w.
///   entry "affine"(x: f32[2, n/2]): y = copy(reshape(reshape(x) + c)), c a constant.
inline proto::Executable elementwiseTwin(const std::string &target, bool inPlace = true,
                                         int64_t n = 1000, int64_t seed = 7) {
  const bool ptx = target == "ptx";
  proto::Executable exe;
  exe.set_target(target);
  exe.set_compiler_version("test-0");
  if (ptx) {
    proto::PtxModule *m = exe.add_modules();
    m->set_name("elementwise");
    m->set_arch("sm_90");
    m->set_ptx(elementwisePtx());
  }
  proto::StateEntry *s = exe.add_state();
  s->set_name("w");
  *s->mutable_type() = f32({n});
  s->set_kind("parameter");
  s->mutable_init()->set_kind("normal");
  s->mutable_init()->set_a(1.0);
  s->mutable_init()->set_seed(seed);

  // entry "step": buffers 0 w, 1 x, 2 w', 3 y.
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name("step");
  for (int i = 0; i < 4; ++i)
    *ep->add_buffers() = f32({n});
  proto::Argument *a = ep->add_arguments();
  a->set_name("w");
  a->set_buffer(0);
  a->set_state("w");
  a = ep->add_arguments();
  a->set_name("x");
  a->set_buffer(1);
  if (ptx) {
    int64_t slot = alignUp(n * 4);
    // y first: it reads w before the in-place add overwrites it.
    addLaunch(ep, "mul_f32", {0, 1}, 3, n, "step.mlir:3:8");
    if (inPlace)
      addStep(ep, "alias", {0}, {2}, "step.mlir:4:8");
    addLaunch(ep, "add_f32", {0, 1}, 2, n, "step.mlir:4:8");
    for (int64_t off : {int64_t{-1}, int64_t{-1}, inPlace ? int64_t{-1} : slot, int64_t{0}})
      ep->add_buffer_offsets(off);
    ep->set_arena_bytes(inPlace ? slot : 2 * slot);
  } else {
    addStep(ep, "mul", {0, 1}, {3}, "step.mlir:3:8");
    addStep(ep, "add", {0, 1}, {2}, "step.mlir:4:8");
  }
  proto::Result *r = ep->add_results();
  r->set_name("w_new");
  r->set_buffer(2);
  r->set_aliases_argument(0);
  r->set_state("w");
  r = ep->add_results();
  r->set_name("y");
  r->set_buffer(3);
  r->set_aliases_argument(-1);

  // entry "affine": buffers 0 x[2,h], 1 flat x, 2 c, 3 sum, 4 sum[2,h], 5 y.
  const int64_t h = n / 2;
  ep = exe.add_entries();
  ep->set_name("affine");
  for (auto t : {f32({2, h}), f32({n}), f32({n}), f32({n}), f32({2, h}), f32({2, h})})
    *ep->add_buffers() = t;
  a = ep->add_arguments();
  a->set_name("x");
  a->set_buffer(0);
  HostTensor c(proto::F32, {n});
  for (int64_t i = 0; i < n; ++i)
    c.setDouble(i, 0.25 * static_cast<double>(i % 7) - 0.5);
  proto::Step *cs = ep->add_steps();
  cs->set_op("constant");
  cs->set_location("affine.mlir:2:8");
  cs->add_outputs(2);
  *(*cs->mutable_attrs())["value"].mutable_tensor() = c.toLiteral();
  if (ptx) {
    addStep(ep, "alias", {0}, {1}, "affine.mlir:3:8");
    addLaunch(ep, "add_f32", {1, 2}, 3, n, "affine.mlir:4:8");
    addStep(ep, "alias", {3}, {4}, "affine.mlir:5:8");
    addStep(ep, "copy", {4}, {5}, "affine.mlir:6:8");
    int64_t slot = alignUp(n * 4);
    for (int64_t off : {int64_t{-1}, int64_t{-1}, int64_t{-1}, int64_t{0}, int64_t{-1}, slot})
      ep->add_buffer_offsets(off);
    ep->set_arena_bytes(2 * slot);
  } else {
    addStep(ep, "reshape", {0}, {1}, "affine.mlir:3:8");
    addStep(ep, "add", {1, 2}, {3}, "affine.mlir:4:8");
    addStep(ep, "reshape", {3}, {4}, "affine.mlir:5:8");
    addStep(ep, "reshape", {4}, {5}, "affine.mlir:6:8"); // the host's "copy"
  }
  r = ep->add_results();
  r->set_name("y");
  r->set_buffer(5);
  r->set_aliases_argument(-1);
  return exe;
}

/// A ptx Executable whose one kernel stores far outside its buffer.
inline proto::Executable wildStoreExe() {
  proto::Executable exe;
  exe.set_target("ptx");
  proto::PtxModule *m = exe.add_modules();
  m->set_name("wild");
  m->set_arch("sm_90");
  m->set_ptx(wildStorePtx());
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name("scribble");
  *ep->add_buffers() = f32({4});
  ep->add_buffer_offsets(0);
  ep->set_arena_bytes(256);
  proto::Step *s = ep->add_steps();
  s->set_op("launch");
  s->set_location("wild.mlir:7:3");
  s->add_outputs(0);
  proto::Launch *l = s->mutable_launch();
  l->set_kernel("wild_store");
  l->add_grid(1);
  l->add_block(1);
  l->add_buffers(0);
  l->add_scalars(int64_t{1} << 46); // 64 TiB past the buffer: never mapped
  proto::Result *r = ep->add_results();
  r->set_name("out");
  r->set_buffer(0);
  r->set_aliases_argument(-1);
  return exe;
}

/// Writes a bundle holding the host and ptx twins under one key (except target).
/// `text` writes text-format Executables (.txtpb), which a test can edit by hand.
inline absl::Status writeElementwiseBundle(const std::string &dir, bool text = false) {
  std::vector<BundleEntry> entries;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const char *target : {"host", "ptx"}) {
    BundleKey key{"model-test", "elementwise", "n1000", target, "test-0"};
    std::string file = bundleFileName(key);
    if (text)
      file.replace(file.size() - 3, 3, ".txtpb");
    absl::Status st = writeExecutable(elementwiseTwin(target), dir + "/" + file, text);
    if (!st.ok())
      return st;
    entries.push_back({key, file});
  }
  return writeBundleManifest(dir, entries);
}

} // namespace kiln::test

#endif // KILN_TESTS_CUDA_PTXTESTPROGRAMS_H
