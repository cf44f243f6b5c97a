//===- PlanBuffersTest.cpp - the ptx target's arena planner ---------------===//
//
// planBuffers on hand-made entries: offsets by liveness, first fit in the gaps
// of dead buffers, 256-byte alignment, aliases sharing their source's bytes,
// arguments outside the arena and results alive to the end.
//
//===----------------------------------------------------------------------===//

#include "codegen/ptx/PtxCodegen.h"

#include "gtest/gtest.h"

namespace kiln::codegen::ptx {
namespace {

/// Adds an f32 buffer of `elements` and returns its id.
int addBuffer(proto::EntryPoint &entry, int64_t elements) {
  proto::TensorType *type = entry.add_buffers();
  type->set_dtype(proto::F32);
  type->add_shape(elements);
  return entry.buffers_size() - 1;
}

void addStep(proto::EntryPoint &entry, const std::string &op,
             std::vector<int> inputs, std::vector<int> outputs) {
  proto::Step *step = entry.add_steps();
  step->set_op(op);
  for (int id : inputs)
    step->add_inputs(id);
  for (int id : outputs)
    step->add_outputs(id);
}

TEST(PlanBuffers, DeadBuffersLendTheirBytesAndLiveOnesNeverOverlap) {
  proto::EntryPoint entry;
  int x = addBuffer(entry, 100); // argument
  int a = addBuffer(entry, 100); // 400 bytes -> 512
  int b = addBuffer(entry, 10);  // 40 bytes -> 256
  int c = addBuffer(entry, 100);
  int d = addBuffer(entry, 100); // result
  entry.add_arguments()->set_buffer(x);
  addStep(entry, "launch", {x}, {a});
  addStep(entry, "launch", {a}, {b});
  addStep(entry, "launch", {a, b}, {c}); // a and b die here
  addStep(entry, "launch", {c}, {d});
  entry.add_results()->set_buffer(d);
  planBuffers(entry);

  EXPECT_EQ(entry.buffer_offsets(x), -1);
  EXPECT_EQ(entry.buffer_offsets(a), 0);
  EXPECT_EQ(entry.buffer_offsets(b), 512);
  // c starts while a and b are still read: after both.
  EXPECT_EQ(entry.buffer_offsets(c), 768);
  // d starts after a and b died: their bytes are reused.
  EXPECT_EQ(entry.buffer_offsets(d), 0);
  EXPECT_EQ(entry.arena_bytes(), 768 + 512);
  for (int64_t offset : entry.buffer_offsets())
    if (offset >= 0)
      EXPECT_EQ(offset % 256, 0);
}

TEST(PlanBuffers, AliasesShareTheirSourceAndKeepItAlive) {
  proto::EntryPoint entry;
  int x = addBuffer(entry, 64);
  int a = addBuffer(entry, 64);
  int view = addBuffer(entry, 64); // a reshape of a
  int b = addBuffer(entry, 64);
  int c = addBuffer(entry, 64);
  entry.add_arguments()->set_buffer(x);
  addStep(entry, "launch", {x}, {a});
  addStep(entry, "alias", {a}, {view});
  addStep(entry, "launch", {x}, {b});
  addStep(entry, "launch", {view, b}, {c});
  entry.add_results()->set_buffer(c);
  planBuffers(entry);

  EXPECT_EQ(entry.buffer_offsets(view), entry.buffer_offsets(a));
  // a is read through its alias by the last step: b cannot take its bytes.
  EXPECT_NE(entry.buffer_offsets(b), entry.buffer_offsets(a));
  EXPECT_NE(entry.buffer_offsets(c), entry.buffer_offsets(a));
  EXPECT_NE(entry.buffer_offsets(c), entry.buffer_offsets(b));
}

TEST(PlanBuffers, ResultsStayAliveToTheEnd) {
  proto::EntryPoint entry;
  int x = addBuffer(entry, 64);
  int early = addBuffer(entry, 64); // a result written first, never read
  int late = addBuffer(entry, 64);
  entry.add_arguments()->set_buffer(x);
  addStep(entry, "launch", {x}, {early});
  addStep(entry, "launch", {x}, {late});
  entry.add_results()->set_buffer(early);
  entry.add_results()->set_buffer(late);
  planBuffers(entry);
  EXPECT_NE(entry.buffer_offsets(early), entry.buffer_offsets(late));
}

} // namespace
} // namespace kiln::codegen::ptx
