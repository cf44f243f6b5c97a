// The interpreter: validation errors, bad caller input, state (initialisation,
// donation across runs), identity results, release accounting, Executable files.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "TestUtil.h"

namespace kiln {
namespace {
using namespace test;

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

/// State w:f32[3] (normal init, seed) and an entry "step": w' = w + x (donated back to
/// w), y = w * x returned, plus x returned unchanged (identity result).
proto::Executable statefulExe(int64_t seed, const std::string &initKind = "normal") {
  proto::Executable exe;
  exe.set_target("host");
  proto::StateEntry *s = exe.add_state();
  s->set_name("w");
  *s->mutable_type() = tt(proto::F32, {3});
  s->set_kind("parameter");
  s->mutable_init()->set_kind(initKind);
  s->mutable_init()->set_a(1.0);
  s->mutable_init()->set_seed(seed);
  proto::StateEntry *c = exe.add_state();
  c->set_name("cache");
  *c->mutable_type() = tt(proto::F32, {3});
  c->set_kind("cache"); // no initializer
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name("step");
  for (int i = 0; i < 4; ++i)
    *ep->add_buffers() = tt(proto::F32, {3});
  proto::Argument *a = ep->add_arguments();
  a->set_name("w");
  a->set_buffer(0);
  a->set_state("w");
  a = ep->add_arguments();
  a->set_name("x");
  a->set_buffer(1);
  proto::Step *st = ep->add_steps();
  st->set_op("add");
  st->add_inputs(0);
  st->add_inputs(1);
  st->add_outputs(2);
  st = ep->add_steps();
  st->set_op("mul");
  st->add_inputs(0);
  st->add_inputs(1);
  st->add_outputs(3);
  st->add_release(0);
  proto::Result *r = ep->add_results();
  r->set_name("w_new");
  r->set_buffer(2);
  r->set_aliases_argument(0);
  r->set_state("w");
  r = ep->add_results();
  r->set_name("y");
  r->set_buffer(3);
  r->set_aliases_argument(-1);
  r = ep->add_results();
  r->set_name("x_out");
  r->set_buffer(1);
  r->set_aliases_argument(-1);
  // A second entry that reads the uninitialisable cache.
  proto::EntryPoint *e2 = exe.add_entries();
  e2->set_name("read_cache");
  *e2->add_buffers() = tt(proto::F32, {3});
  a = e2->add_arguments();
  a->set_name("cache");
  a->set_buffer(0);
  a->set_state("cache");
  r = e2->add_results();
  r->set_name("c");
  r->set_buffer(0);
  r->set_aliases_argument(-1);
  return exe;
}

TEST(Executor, StateDonationAcrossRuns) {
  auto exe = Executor::create(statefulExe(11));
  ASSERT_TRUE(exe.ok()) << exe.status();
  Executor &e = **exe;
  EXPECT_EQ(e.stateNames(), (std::vector<std::string>{"w", "cache"}));
  EXPECT_EQ(e.entryNames(), (std::vector<std::string>{"step", "read_cache"}));
  ASSERT_NE(e.entry("step"), nullptr);
  EXPECT_EQ(e.entry("nope"), nullptr);
  ASSERT_TRUE(e.initializeState().ok());
  HostTensor w0 = e.getState("w")->clone();
  HostTensor x = randomTensor(proto::F32, {3});
  auto r1 = e.run("step", std::vector<HostTensor>{x});
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_EQ(r1->size(), 2u);
  HostTensor w1 = *e.getState("w");
  for (int i = 0; i < 3; ++i) {
    EXPECT_FLOAT_EQ(w1.getDouble(i), float(w0.getDouble(i) + x.getDouble(i)));
    EXPECT_FLOAT_EQ((*r1)[0].getDouble(i), float(w0.getDouble(i) * x.getDouble(i)));
    EXPECT_EQ((*r1)[1].getDouble(i), x.getDouble(i)); // identity result
  }
  EXPECT_GT(e.lastPeakBytes(), 0);
  EXPECT_LE(e.lastPeakBytes(), 4 * 12);
  auto r2 = e.runNamed("step", std::map<std::string, HostTensor>{{"x", x}});
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->count("y"), 1u);
  EXPECT_EQ(r2->count("x_out"), 1u);
  // Only the wanted results come back; a name the entry does not return to
  // its caller (state, or nothing) is refused before anything runs.
  HostTensor w1b = *e.getState("w");
  auto some = e.runNamed("step", {{"x", x}}, {"x_out"});
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->size(), 1u);
  EXPECT_EQ(some->count("x_out"), 1u);
  for (const char *bad : {"w", "nope"}) {
    auto refused = e.runNamed("step", {{"x", x}}, {bad});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find(bad), std::string::npos)
        << refused.status();
  }
  // The refused calls ran nothing; the wanted one advanced w once more.
  for (int i = 0; i < 3; ++i)
    EXPECT_FLOAT_EQ(e.getState("w")->getDouble(i),
                    float(w1b.getDouble(i) + x.getDouble(i)));
  ASSERT_TRUE(e.setState("w", w1b).ok());
  HostTensor w2 = *e.getState("w");
  for (int i = 0; i < 3; ++i)
    EXPECT_FLOAT_EQ(w2.getDouble(i), float(float(w0.getDouble(i) + x.getDouble(i)) + x.getDouble(i)));
  // The first run's state snapshot is untouched (no in-place writes into shared storage).
  EXPECT_FLOAT_EQ(w1.getDouble(0), float(w0.getDouble(0) + x.getDouble(0)));
}

TEST(Executor, InitializeStateIsDeterministic) {
  for (const char *kind : {"normal", "uniform", "truncated_normal", "ones", "constant", "zeros"}) {
    proto::Executable exe = statefulExe(3, kind);
    exe.mutable_state(0)->mutable_type()->set_shape(0, 1000);
    exe.clear_entries();
    auto a = Executor::create(exe), b = Executor::create(exe, {1});
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_TRUE((*a)->initializeState().ok());
    ASSERT_TRUE((*b)->initializeState().ok());
    HostTensor ta = *(*a)->getState("w"), tb = *(*b)->getState("w");
    EXPECT_EQ(std::memcmp(ta.data(), tb.data(), ta.byteSize()), 0) << kind;
    EXPECT_FALSE((*a)->getState("cache").ok()); // no initializer: stays unset
    exe.mutable_state(0)->mutable_init()->set_seed(4);
    auto c = Executor::create(exe);
    ASSERT_TRUE((*c)->initializeState().ok());
    HostTensor tc = *(*c)->getState("w");
    bool random = std::string(kind) == "normal" || std::string(kind) == "uniform" ||
                  std::string(kind) == "truncated_normal";
    EXPECT_EQ(std::memcmp(ta.data(), tc.data(), ta.byteSize()) != 0, random) << kind;
    for (int64_t i = 0; i < 1000; ++i) {
      double v = ta.getDouble(i);
      if (std::string(kind) == "truncated_normal")
        EXPECT_LE(std::fabs(v), 2.0);
      if (std::string(kind) == "uniform")
        EXPECT_TRUE(v > 0.0 && v <= 1.0) << v; // U[a=1, b=0): 1 - u
      if (std::string(kind) == "ones" || std::string(kind) == "constant")
        EXPECT_EQ(v, 1.0);
      if (std::string(kind) == "zeros")
        EXPECT_EQ(v, 0.0);
    }
  }
}

TEST(Executor, BadInputs) {
  auto exe = Executor::create(statefulExe(1));
  ASSERT_TRUE(exe.ok());
  Executor &e = **exe;
  auto r = e.run("step", std::vector<HostTensor>{});
  EXPECT_TRUE(!r.ok() && contains(r.status(), "entry 'step' takes 1 inputs (x), given 0")) << r.status();
  r = e.run("step", std::vector<HostTensor>{HostTensor(proto::F32, {4})});
  EXPECT_TRUE(!r.ok() && contains(r.status(), "argument 'x': expected f32[3], given f32[4]")) << r.status();
  r = e.run("step", std::vector<HostTensor>{HostTensor(proto::BF16, {3})});
  EXPECT_TRUE(!r.ok() && contains(r.status(), "given bf16[3]")) << r.status();
  r = e.run("nope", std::vector<HostTensor>{});
  EXPECT_TRUE(!r.ok() && contains(r.status(), "no entry point 'nope'")) << r.status();
  auto m = e.runNamed("step", std::map<std::string, HostTensor>{{"z", HostTensor(proto::F32, {3})}});
  EXPECT_TRUE(!m.ok() && contains(m.status(), "'x' is not given")) << m.status();

  EXPECT_TRUE(contains(e.setState("nope", HostTensor(proto::F32, {3})), "unknown state entry 'nope'"));
  absl::Status s = e.setState("w", HostTensor(proto::F32, {2}));
  EXPECT_TRUE(contains(s, "state entry 'w' expects f32[3], given f32[2]")) << s;
  EXPECT_FALSE(e.getState("nope").ok());
  auto c = e.run("read_cache", std::vector<HostTensor>{});
  EXPECT_TRUE(!c.ok() && contains(c.status(), "'cache', which has no value and no initializer")) << c.status();
  ASSERT_TRUE(e.setState("cache", HostTensor(proto::F32, {3})).ok());
  EXPECT_TRUE(e.run("read_cache", std::vector<HostTensor>{}).ok());
  // run() initialises state that has an initializer on first use.
  EXPECT_TRUE(e.run("step", std::vector<HostTensor>{randomTensor(proto::F32, {3})}).ok());
}

TEST(Executor, ValidationErrors) {
  proto::Executable bad = statefulExe(1);
  bad.mutable_entries(0)->mutable_steps(1)->set_op("frobnicate");
  bad.mutable_entries(0)->mutable_steps(1)->set_location("model.cc:7:3");
  auto e = Executor::create(bad);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "unknown op 'kiln.frobnicate'") &&
              contains(e.status(), "model.cc:7:3"))
      << e.status();
  bad = statefulExe(1);
  bad.set_target("ptx");
  EXPECT_FALSE(Executor::create(bad).ok());
  bad = statefulExe(1);
  bad.mutable_entries(0)->mutable_steps(0)->set_inputs(1, 17);
  e = Executor::create(bad);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "buffer id 17")) << e.status();
  bad = statefulExe(1);
  bad.mutable_entries(0)->mutable_arguments(0)->set_state("v");
  e = Executor::create(bad);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "unknown state entry 'v'")) << e.status();
  // A bad attribute fails at run time with the op and location, and leaves state intact.
  bad = statefulExe(1);
  proto::Step *st = bad.mutable_entries(0)->mutable_steps(1);
  st->set_op("softmax");
  st->clear_inputs();
  st->add_inputs(0);
  st->set_location("model.cc:9:1");
  auto ok = Executor::create(bad);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_TRUE((*ok)->initializeState().ok());
  HostTensor before = *(*ok)->getState("w");
  auto r = (*ok)->run("step", std::vector<HostTensor>{randomTensor(proto::F32, {3})});
  EXPECT_TRUE(!r.ok() && contains(r.status(), "kiln.softmax at model.cc:9:1") &&
              contains(r.status(), "missing attribute 'axis'"))
      << r.status();
  EXPECT_EQ((*ok)->getState("w")->data(), before.data());
}

// Every way a shape enters the executor (Executable buffers and state, tensor
// literals, host tensors) checks its element count: a count that wraps int64
// would size a short buffer that a kernel then writes past.
TEST(Executor, OverflowingShapesAreRefused) {
  const int64_t big = int64_t{1} << 32; // big^2 = 2^64 wraps to 0
  proto::Executable exe =
      singleOp("one_hot", {makeType(proto::I64, {4})},
               {makeType(proto::F32, {big, big})}, {{"depth", attrI(big)}});
  auto e = Executor::create(exe);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "overflows")) << e.status();
  // Bytes overflow even where the count does not: 2^62 f64 elements.
  exe = singleOp("neg", {makeType(proto::F64, {int64_t{1} << 62})},
                 {makeType(proto::F64, {int64_t{1} << 62})});
  e = Executor::create(exe);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "overflows")) << e.status();
  proto::Executable state = statefulExe(1);
  state.mutable_state(0)->mutable_type()->add_shape(big);
  state.mutable_state(0)->mutable_type()->add_shape(big);
  e = Executor::create(state);
  EXPECT_TRUE(!e.ok() && contains(e.status(), "state entry")) << e.status();

  proto::TensorLiteral literal;
  *literal.mutable_type() = makeType(proto::F32, {big, big});
  literal.set_splat(true);
  literal.set_data(std::string(4, '\0'));
  auto t = HostTensor::fromLiteral(literal);
  EXPECT_TRUE(!t.ok() && contains(t.status(), "overflows")) << t.status();

  // The constructor cannot fail, so it gives an invalid tensor, never a
  // short buffer.
  HostTensor wrapped(proto::F32, {big, big});
  EXPECT_FALSE(wrapped.valid());
  EXPECT_EQ(wrapped.byteSize(), 0);
  EXPECT_EQ(wrapped.data(), nullptr);
  EXPECT_FALSE(HostTensor(proto::F32, {-1, 2}).valid());
  auto made = HostTensor::create(proto::F32, {big, big}, "x");
  EXPECT_TRUE(!made.ok() &&
              contains(made.status(), "x has type f32[4294967296,4294967296]"))
      << made.status();
  // Representable but beyond this machine: refused with what it needs.
  made = HostTensor::create(proto::F32, {int64_t{1} << 50}, "y");
  EXPECT_TRUE(!made.ok() && absl::IsResourceExhausted(made.status()) &&
              contains(made.status(), "y of type f32[1125899906842624] needs "
                                      "4194304.0 GiB but this machine has"))
      << made.status();
  EXPECT_EQ(checkedNumElements({3, 4}), 12);
  EXPECT_EQ(checkedNumElements({big, big}), std::nullopt);
  EXPECT_EQ(checkedNumElements({int64_t{1} << 61}, 8), std::nullopt);
  EXPECT_EQ(checkedNumElements({int64_t{1} << 59}, 8), int64_t{1} << 59);
}

TEST(Executor, Files) {
  std::string dir = ::testing::TempDir();
  proto::Executable exe = statefulExe(9);
  for (bool text : {false, true}) {
    std::string path = dir + (text ? "/kiln_exe.txtpb" : "/kiln_exe.pb");
    ASSERT_TRUE(writeExecutable(exe, path, text).ok());
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    auto back = readExecutable(path);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->SerializeAsString(), exe.SerializeAsString());
  }
  auto missing = readExecutable(dir + "/does_not_exist.pb");
  EXPECT_TRUE(!missing.ok() && contains(missing.status(), "does_not_exist.pb")) << missing.status();
  std::string corrupt = dir + "/kiln_corrupt.pb";
  std::ofstream(corrupt, std::ios::binary) << std::string("\xff\xff\xff\xff\x0f garbage", 13);
  auto c = readExecutable(corrupt);
  EXPECT_TRUE(!c.ok() && contains(c.status(), "corrupt")) << c.status();
  std::string corruptText = dir + "/kiln_corrupt.pbtxt";
  std::ofstream(corruptText) << "target: \"host\" entries { name: ";
  EXPECT_FALSE(readExecutable(corruptText).ok());
  EXPECT_FALSE(writeExecutable(exe, "/nonexistent_dir/x.pb", false).ok());
}

} // namespace
} // namespace kiln
