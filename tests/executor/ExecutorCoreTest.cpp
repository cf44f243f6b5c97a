//===- ExecutorCoreTest.cpp - the executor core over a recording device ---===//
//
// What the core promises every device: state is made through allocate and
// copyIn, a run binds state and inputs, writes donated state back only after
// the steps succeeded, then synchronises and returns the results; errors of
// caller input and validation read the same whatever the device.
//
//===----------------------------------------------------------------------===//

#include <string>
#include <vector>

#include "TestUtil.h"
#include "absl/strings/str_cat.h"
#include "executor/ArgumentBinding.h"
#include "executor/ExecutableValidation.h"
#include "executor/ExecutorCore.h"

namespace kiln {
namespace {
using namespace test;

bool contains(const absl::Status &s, const std::string &text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

struct FakeState final : DeviceState {
  HostTensor value;
};

/// A device that logs every call and runs an entry by handing each result
/// the tensor bound to its buffer (no steps).
class RecordingDevice final : public Device {
public:
  std::vector<std::string> log;
  absl::Status readyStatus, launchStatus, syncStatus;

  std::string describe() const override { return "recording device"; }
  absl::Status ready() override {
    log.push_back("ready");
    return readyStatus;
  }
  absl::StatusOr<std::unique_ptr<DeviceState>>
  allocate(const proto::TensorType &, absl::string_view what) override {
    log.push_back(absl::StrCat("allocate ", what));
    return std::make_unique<FakeState>();
  }
  absl::Status copyIn(DeviceState &state, HostTensor value,
                      absl::string_view what) override {
    log.push_back(absl::StrCat("copyIn ", what));
    static_cast<FakeState &>(state).value = std::move(value);
    return absl::OkStatus();
  }
  absl::StatusOr<HostTensor> copyOut(const DeviceState &state,
                                     const proto::TensorType &,
                                     absl::string_view what) override {
    log.push_back(absl::StrCat("copyOut ", what));
    return static_cast<const FakeState &>(state).value.clone();
  }
  absl::StatusOr<std::unique_ptr<EntryRun>>
  launch(const EntryCall &call) override;
  int64_t lastPeakBytes() const override { return 42; }
};

class RecordingRun final : public EntryRun {
public:
  RecordingRun(RecordingDevice &device, const proto::EntryPoint &ep,
               std::vector<HostTensor> buffers)
      : device_(device), ep_(ep), buffers_(std::move(buffers)) {}
  absl::Status writeBack(int result,
                         std::unique_ptr<DeviceState> &slot) override {
    device_.log.push_back(
        absl::StrCat("writeBack ", ep_.results(result).name()));
    if (!slot)
      slot = std::make_unique<FakeState>();
    static_cast<FakeState &>(*slot).value =
        buffers_[ep_.results(result).buffer()];
    return absl::OkStatus();
  }
  absl::Status synchronize() override {
    device_.log.push_back("synchronize");
    return device_.syncStatus;
  }
  absl::StatusOr<std::vector<HostTensor>> takeResults() override {
    device_.log.push_back("takeResults");
    std::vector<HostTensor> out;
    for (const proto::Result &r : ep_.results())
      if (r.state().empty())
        out.push_back(buffers_[r.buffer()]);
    return out;
  }

private:
  RecordingDevice &device_;
  const proto::EntryPoint &ep_;
  std::vector<HostTensor> buffers_;
};

absl::StatusOr<std::unique_ptr<EntryRun>>
RecordingDevice::launch(const EntryCall &call) {
  log.push_back(absl::StrCat("launch ", call.entry->name()));
  if (!launchStatus.ok())
    return launchStatus;
  std::vector<HostTensor> buffers(call.entry->buffers_size());
  size_t next = 0;
  for (int k = 0; k < call.entry->arguments_size(); ++k) {
    int b = call.entry->arguments(k).buffer();
    buffers[b] = call.argumentState[k]
                     ? static_cast<FakeState *>(call.argumentState[k])->value
                     : (*call.inputs)[next++];
  }
  return std::make_unique<RecordingRun>(*this, *call.entry, std::move(buffers));
}

class RecordingExecutor final : public ExecutorCore {
public:
  explicit RecordingExecutor(proto::Executable exe)
      : ExecutorCore(std::move(exe)) {
    auto device = std::make_unique<RecordingDevice>();
    this->device = device.get();
    setDevice(std::move(device));
  }
  RecordingDevice *device;
};

void addArgument(proto::EntryPoint *ep, const std::string &name, int buffer,
                 const std::string &state = "") {
  proto::Argument *a = ep->add_arguments();
  a->set_name(name);
  a->set_buffer(buffer);
  a->set_state(state);
}

void addResult(proto::EntryPoint *ep, const std::string &name, int buffer,
               const std::string &state = "") {
  proto::Result *r = ep->add_results();
  r->set_name(name);
  r->set_buffer(buffer);
  r->set_state(state);
  r->set_aliases_argument(-1);
}

proto::EntryPoint *addEntry(proto::Executable &exe, const std::string &name,
                            int buffers) {
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name(name);
  for (int b = 0; b < buffers; ++b)
    *ep->add_buffers() = tt(proto::F32, {2});
  return ep;
}

/// State w:f32[2] (ones) and cache:f32[2] (no initializer); "swap" returns the
/// old w as `y` and donates the input x to w; "read" returns cache; "fill"
/// writes cache without reading it.
proto::Executable swapExe() {
  proto::Executable exe;
  exe.set_target("fake");
  for (const char *name : {"w", "cache"}) {
    proto::StateEntry *s = exe.add_state();
    s->set_name(name);
    *s->mutable_type() = tt(proto::F32, {2});
  }
  exe.mutable_state(0)->mutable_init()->set_kind("ones");
  proto::EntryPoint *ep = addEntry(exe, "swap", 2);
  addArgument(ep, "w", 0, "w");
  addArgument(ep, "x", 1);
  addResult(ep, "w_new", 1, "w");
  addResult(ep, "y", 0);
  ep = addEntry(exe, "read", 1);
  addArgument(ep, "cache", 0, "cache");
  addResult(ep, "c", 0);
  ep = addEntry(exe, "fill", 1);
  addArgument(ep, "x", 0);
  addResult(ep, "cache_new", 0, "cache");
  return exe;
}

using Log = std::vector<std::string>;

TEST(ExecutorCore, RunBindsStateThenWritesBackThenSynchronises) {
  RecordingExecutor x(swapExe());
  HostTensor in = randomTensor(proto::F32, {2});
  auto out = x.run("swap", {in});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(x.device->log,
            (Log{"ready", "allocate state entry 'w'",
                 "copyIn uploading state entry 'w'", "launch swap",
                 "writeBack w_new", "synchronize", "takeResults"}));
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].toDoubles(), (std::vector<double>{1, 1}));
  EXPECT_EQ(x.getState("w")->toDoubles(), in.toDoubles());
  EXPECT_EQ(x.lastPeakBytes(), 42);
  EXPECT_EQ(x.deviceDescription(), "recording device");
}

TEST(ExecutorCore, FailedLaunchLeavesStateAlone) {
  RecordingExecutor x(swapExe());
  ASSERT_TRUE(x.initializeState().ok());
  x.device->log.clear();
  x.device->launchStatus = absl::InternalError("kernel fault");
  auto out = x.run("swap", {randomTensor(proto::F32, {2})});
  EXPECT_TRUE(!out.ok() && contains(out.status(), "kernel fault"));
  EXPECT_EQ(x.device->log, (Log{"ready", "launch swap"}));
  EXPECT_EQ(x.getState("w")->toDoubles(), (std::vector<double>{1, 1}));
}

TEST(ExecutorCore, DeviceNotReadyStopsBeforeState) {
  RecordingExecutor x(swapExe());
  x.device->readyStatus = absl::InternalError("context is unusable");
  auto out = x.run("swap", {randomTensor(proto::F32, {2})});
  EXPECT_TRUE(!out.ok() && contains(out.status(), "context is unusable"));
  EXPECT_EQ(x.device->log, (Log{"ready"}));
}

TEST(ExecutorCore, StateErrorsAndWriteOnlyState) {
  RecordingExecutor x(swapExe());
  auto c = x.run("read", {});
  EXPECT_TRUE(!c.ok() && contains(c.status(), "reads state entry 'cache', "
                                              "which has no value and no "
                                              "initializer"))
      << c.status();
  auto g = x.getState("cache");
  EXPECT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(x.getState("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(contains(x.setState("w", HostTensor(proto::F32, {3})),
                       "state entry 'w' expects f32[2], given f32[3]"));
  // State written before it is ever read: the device fills the empty slot.
  HostTensor in = randomTensor(proto::F32, {2});
  ASSERT_TRUE(x.run("fill", {in}).ok());
  EXPECT_EQ(x.getState("cache")->toDoubles(), in.toDoubles());
  auto r = x.run("read", {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].toDoubles(), in.toDoubles());
}

/// The caller-input errors are the core's, so the CPU executor's words hold
/// on any device.
TEST(ExecutorCore, InputErrorsMatchTheCpuExecutor) {
  RecordingExecutor x(swapExe());
  proto::Executable host = swapExe();
  host.set_target("host");
  auto cpu = Executor::create(host);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  std::vector<std::vector<HostTensor>> bad = {
      {}, {HostTensor(proto::F32, {3})}, {HostTensor(proto::BF16, {2})}};
  for (const std::vector<HostTensor> &inputs : bad) {
    auto a = x.run("swap", inputs), b = (*cpu)->run("swap", inputs);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status(), b.status());
  }
  auto a = x.run("nope", {}), b = (*cpu)->run("nope", {});
  EXPECT_EQ(a.status(), b.status());
  EXPECT_TRUE(contains(a.status(), "no entry point 'nope'; entries are: "
                                   "swap, read, fill"));
  for (const std::map<std::string, HostTensor> &inputs :
       {std::map<std::string, HostTensor>{},
        std::map<std::string, HostTensor>{
            {"x", HostTensor(proto::F32, {2})},
            {"z", HostTensor(proto::F32, {2})}}}) {
    auto na = x.runNamed("swap", inputs), nb = (*cpu)->runNamed("swap", inputs);
    ASSERT_FALSE(na.ok());
    EXPECT_EQ(na.status(), nb.status());
  }
  EXPECT_TRUE(x.device->log.empty()); // rejected before the device saw them
  auto named = x.runNamed("swap", {{"x", randomTensor(proto::F32, {2})}});
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->count("y"), 1u);
  EXPECT_EQ(named->count("w_new"), 0u);
}

TEST(ArgumentBinding, OrdersByNameAndNamesResults) {
  proto::Executable exe = swapExe();
  const proto::EntryPoint &ep = exe.entries(0);
  ASSERT_EQ(callerArguments(ep).size(), 1u);
  EXPECT_EQ(callerArguments(ep)[0]->name(), "x");
  HostTensor x = randomTensor(proto::F32, {2});
  auto ordered = orderInputs(ep, {{"x", x}});
  ASSERT_TRUE(ordered.ok());
  EXPECT_EQ((*ordered)[0].storageId(), x.storageId());
  EXPECT_TRUE(contains(orderInputs(ep, {}).status(), "'x' is not given"));
  EXPECT_TRUE(contains(orderInputs(ep, {{"x", x}, {"w", x}}).status(),
                       "has no caller-fed argument 'w'"));
  EXPECT_TRUE(checkInputs(ep, {x}).ok());
  EXPECT_TRUE(contains(checkInputs(ep, {x, x}),
                       "entry 'swap' takes 1 inputs (x), given 2"));
  std::map<std::string, HostTensor> named = nameResults(ep, {x});
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named["y"].storageId(), x.storageId());
}

ExecutableRules fakeRules(std::vector<std::string> *calls) {
  ExecutableRules rules;
  rules.target = "fake";
  rules.executorName = "the fake executor";
  rules.describeStep = [](const proto::EntryPoint &ep, int i) {
    return absl::StrCat("fake step ", i, " of ", ep.name());
  };
  rules.checkStep = [calls](const proto::Executable &,
                            const proto::EntryPoint &ep, int i) {
    calls->push_back(absl::StrCat("step ", ep.name(), " ", i));
    return ep.steps(i).op() == "bad" ? absl::InvalidArgumentError("bad op")
                                     : absl::OkStatus();
  };
  rules.checkEntry = [calls](const proto::Executable &,
                             const proto::EntryPoint &ep) {
    calls->push_back(absl::StrCat("entry ", ep.name()));
    return absl::OkStatus();
  };
  return rules;
}

TEST(ExecutableValidation, SharedChecksThenTheExecutorsRules) {
  std::vector<std::string> calls;
  proto::Executable exe = swapExe();
  proto::Step *s = exe.mutable_entries(0)->add_steps();
  s->set_op("copy");
  s->add_inputs(0);
  s->add_outputs(1);
  EXPECT_TRUE(validateExecutable(exe, fakeRules(&calls)).ok());
  EXPECT_EQ(calls,
            (Log{"step swap 0", "entry swap", "entry read", "entry fill"}));

  auto error = [&](const std::function<void(proto::Executable &)> &edit) {
    proto::Executable bad = exe;
    edit(bad);
    calls.clear();
    return validateExecutable(bad, fakeRules(&calls));
  };
  absl::Status st = error([](proto::Executable &e) { e.set_target("host"); });
  EXPECT_TRUE(contains(st, "the Executable targets 'host'; the fake executor "
                           "runs only 'fake'"))
      << st;
  st = error([](proto::Executable &e) { e.mutable_state(1)->set_name("w"); });
  EXPECT_TRUE(contains(st, "state entry name 'w' is empty or repeated")) << st;
  st = error([](proto::Executable &e) {
    e.mutable_state(0)->mutable_type()->set_dtype(proto::DTYPE_INVALID);
  });
  EXPECT_TRUE(contains(st, "state entry 'w' has an invalid dtype")) << st;
  st = error(
      [](proto::Executable &e) { e.mutable_entries(1)->set_name("swap"); });
  EXPECT_TRUE(contains(st, "entry 'swap' is repeated")) << st;
  st = error([](proto::Executable &e) {
    e.mutable_entries(0)->mutable_results(0)->set_buffer(5);
  });
  EXPECT_TRUE(contains(st, "result 'w_new' uses buffer 5 but there are 2"))
      << st;
  st = error([](proto::Executable &e) {
    e.mutable_entries(0)->mutable_arguments(0)->set_state("v");
  });
  EXPECT_TRUE(contains(st, "names unknown state entry 'v'")) << st;
  st = error([](proto::Executable &e) {
    *e.mutable_entries(0)->mutable_buffers(0) = tt(proto::F32, {3});
  });
  EXPECT_TRUE(contains(st, "has type f32[3] but state entry 'w' is f32[2]"))
      << st;
  st = error([](proto::Executable &e) {
    e.mutable_entries(0)->mutable_results(1)->set_aliases_argument(2);
  });
  EXPECT_TRUE(contains(st, "result 'y' aliases argument 2 of 2")) << st;
  // A bad buffer id is caught before the executor's step rule reads it.
  st = error([](proto::Executable &e) {
    e.mutable_entries(0)->mutable_steps(0)->set_outputs(0, 9);
  });
  EXPECT_TRUE(contains(st, "fake step 0 of swap: buffer id 9 is out of range "
                           "(2 buffers)"))
      << st;
  EXPECT_TRUE(calls.empty());
  st = error([](proto::Executable &e) {
    e.mutable_entries(0)->mutable_steps(0)->set_op("bad");
  });
  EXPECT_TRUE(contains(st, "bad op")) << st;
  EXPECT_EQ(calls, (Log{"step swap 0"})); // no entry rule after a failure
}

} // namespace
} // namespace kiln
