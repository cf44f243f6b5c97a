//===- MpiParallelTest.cpp - collectives and data parallelism over MPI ----===//
//
// Run by ctest under `mpirun -np 2`: every rank runs every test, with inputs
// that depend on its rank, and checks what the collectives give it against
// values it computes for every rank itself. The data-parallel tests load
// Executables that make_parallel_fixtures compiled before mpirun started
// (KILN_PARALLEL_FIXTURES names the folder) and require the loss and the
// parameters of one process over the global batch.
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/ExecutableQueries.h"
#include "executor/Executor.h"
#include "executor/StatusMacros.h"
#include "executor/comm/World.h"
#include "models/train/DistributedRollout.h"
#include "models/train/TrainRanks.h"
#include "tests/executor/TestUtil.h"

namespace kiln {
namespace {

std::shared_ptr<Communicator> world;

int rank() { return world->rank(); }
int ranks() { return world->size(); }

proto::TensorType tensorType(proto::DType dtype, std::vector<int64_t> shape) {
  proto::TensorType t;
  t.set_dtype(dtype);
  for (int64_t d : shape)
    t.add_shape(d);
  return t;
}

/// Runs `exe`'s entry "main" on this rank's communicator.
absl::StatusOr<std::vector<HostTensor>>
runOnWorld(const proto::Executable &exe, const std::vector<HostTensor> &in) {
  ExecutorOptions options;
  options.numThreads = 1;
  options.communicator = world;
  KILN_ASSIGN_OR_RETURN(auto executor, Executor::create(exe, options));
  return executor->run("main", in);
}

/// The value every rank r puts at flat index i: distinct per rank and index.
double valueOf(int r, int64_t i) { return 0.25 * (r + 1) + 0.001 * i; }

HostTensor rankTensor(int r, proto::DType dtype, std::vector<int64_t> shape) {
  HostTensor t(dtype, shape);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setDouble(i, valueOf(r, i));
  return t;
}

TEST(Collectives, AllReduceSumsInRankOrderRoundedOnce) {
  for (proto::DType dtype : {proto::F32, proto::BF16, proto::I64}) {
    std::vector<int64_t> shape = {5, 3}; // 15 elements: uneven blocks
    test::Attrs attrs = {{"reduction", test::attrS("sum")},
                         {"group_size", test::attrI(ranks())}};
    HostTensor x = rankTensor(rank(), dtype, shape);
    auto out = runOnWorld(test::singleOp("all_reduce", {x.type()}, {x.type()},
                                         attrs),
                          {x});
    ASSERT_TRUE(out.ok()) << out.status();
    HostTensor expected(dtype, shape);
    for (int64_t i = 0; i < x.numElements(); ++i) {
      // Each rank's value as stored in its dtype, summed in f32 (int64 for
      // ints) in rank order, rounded once.
      double acc = 0;
      float facc = 0;
      for (int r = 0; r < ranks(); ++r) {
        double v = rankTensor(r, dtype, shape).getDouble(i);
        acc += v;
        facc += static_cast<float>(v);
      }
      expected.setDouble(i, dtype == proto::I64 ? acc : facc);
    }
    for (int64_t i = 0; i < x.numElements(); ++i)
      ASSERT_EQ((*out)[0].getDouble(i), expected.getDouble(i))
          << "dtype " << dtype << " element " << i;
  }
}

TEST(Collectives, AllReduceMaxAndMin) {
  HostTensor x = rankTensor(rank(), proto::F32, {4});
  for (const char *reduction : {"max", "min"}) {
    auto out = runOnWorld(
        test::singleOp("all_reduce", {x.type()}, {x.type()},
                       {{"reduction", test::attrS(reduction)},
                        {"group_size", test::attrI(ranks())}}),
        {x});
    ASSERT_TRUE(out.ok()) << out.status();
    int extreme = std::string(reduction) == "max" ? ranks() - 1 : 0;
    for (int64_t i = 0; i < 4; ++i)
      EXPECT_EQ((*out)[0].getDouble(i),
                rankTensor(extreme, proto::F32, {4}).getDouble(i));
  }
}

TEST(Collectives, AllGatherAndReduceScatterAlongAnAxis) {
  // x [2, 3] per rank; all_gather on axis 1 -> [2, 3 * G].
  HostTensor x = rankTensor(rank(), proto::F32, {2, 3});
  auto gathered = runOnWorld(
      test::singleOp("all_gather", {x.type()},
                     {tensorType(proto::F32, {2, 3 * ranks()})},
                     {{"axis", test::attrI(1)},
                      {"group_size", test::attrI(ranks())}}),
      {x});
  ASSERT_TRUE(gathered.ok()) << gathered.status();
  for (int64_t row = 0; row < 2; ++row)
    for (int r = 0; r < ranks(); ++r)
      for (int64_t c = 0; c < 3; ++c)
        EXPECT_EQ((*gathered)[0].getDouble(row * 3 * ranks() + r * 3 + c),
                  rankTensor(r, proto::F32, {2, 3}).getDouble(row * 3 + c));

  // y [2, 2 * G] per rank; reduce_scatter on axis 1 -> block `rank` of the
  // sum, [2, 2].
  HostTensor y = rankTensor(rank(), proto::F32, {2, 2 * ranks()});
  auto scattered = runOnWorld(
      test::singleOp("reduce_scatter", {y.type()},
                     {tensorType(proto::F32, {2, 2})},
                     {{"axis", test::attrI(1)},
                      {"group_size", test::attrI(ranks())}}),
      {y});
  ASSERT_TRUE(scattered.ok()) << scattered.status();
  for (int64_t row = 0; row < 2; ++row)
    for (int64_t c = 0; c < 2; ++c) {
      float sum = 0;
      for (int r = 0; r < ranks(); ++r)
        sum += static_cast<float>(
            rankTensor(r, proto::F32, {2, 2 * ranks()})
                .getDouble(row * 2 * ranks() + rank() * 2 + c));
      EXPECT_EQ((*scattered)[0].getDouble(row * 2 + c), sum);
    }
}

/// Rows rank `src` sends to rank `dst`: src + dst + 1 of them.
int64_t rowsFrom(int src, int dst) { return src + dst + 1; }

TEST(Collectives, AllToAllWithPerPeerCounts) {
  constexpr int64_t width = 3, capacity = 16;
  int64_t n = 0;
  for (int p = 0; p < ranks(); ++p)
    n += rowsFrom(rank(), p);
  n += 2; // rows past the counts are not sent
  HostTensor x(proto::F32, {n, width});
  HostTensor counts(proto::I64, {ranks()});
  int64_t row = 0;
  for (int p = 0; p < ranks(); ++p) {
    counts.setInt(p, rowsFrom(rank(), p));
    for (int64_t i = 0; i < rowsFrom(rank(), p); ++i, ++row)
      for (int64_t c = 0; c < width; ++c)
        x.setDouble(row * width + c, 100 * rank() + 10 * p + i + 0.1 * c);
  }
  for (; row < n; ++row)
    for (int64_t c = 0; c < width; ++c)
      x.setDouble(row * width + c, -1);
  auto out = runOnWorld(
      test::singleOp("all_to_all", {x.type(), counts.type()},
                     {tensorType(proto::F32, {capacity, width}),
                      tensorType(proto::I64, {ranks()})},
                     {{"capacity", test::attrI(capacity)},
                      {"group_size", test::attrI(ranks())}}),
      {x, counts});
  ASSERT_TRUE(out.ok()) << out.status();
  const HostTensor &y = (*out)[0];
  int64_t at = 0;
  for (int s = 0; s < ranks(); ++s) {
    EXPECT_EQ((*out)[1].getInt(s), rowsFrom(s, rank()));
    for (int64_t i = 0; i < rowsFrom(s, rank()); ++i, ++at)
      for (int64_t c = 0; c < width; ++c)
        ASSERT_EQ(y.getDouble(at * width + c),
                  static_cast<float>(100 * s + 10 * rank() + i + 0.1 * c));
  }
  for (; at < capacity; ++at)
    for (int64_t c = 0; c < width; ++c)
      EXPECT_EQ(y.getDouble(at * width + c), 0.0);
}

TEST(Collectives, AllToAllBadCountsFailOnEveryRank) {
  HostTensor x(proto::F32, {4, 2});
  HostTensor counts(proto::I64, {ranks()});
  for (int p = 0; p < ranks(); ++p)
    counts.setInt(p, rank() == ranks() - 1 ? 5 : 1); // the last rank overruns x
  auto out = runOnWorld(
      test::singleOp("all_to_all", {x.type(), counts.type()},
                     {tensorType(proto::F32, {16, 2}),
                      tensorType(proto::I64, {ranks()})},
                     {{"capacity", test::attrI(16)},
                      {"group_size", test::attrI(ranks())}}),
      {x, counts});
  ASSERT_FALSE(out.ok());
  std::string message(out.status().message());
  if (rank() == ranks() - 1)
    EXPECT_NE(message.find("send counts that total"), std::string::npos)
        << message;
  else
    EXPECT_NE(message.find("rank " + std::to_string(ranks() - 1) +
                           " has invalid row counts"),
              std::string::npos)
        << message;
}

TEST(Collectives, SendAndRecvPairUp) {
  if (ranks() < 2)
    GTEST_SKIP() << "needs two ranks";
  HostTensor x = rankTensor(rank(), proto::F32, {6});
  if (rank() == 0) {
    auto sent = runOnWorld(test::singleOp("send", {x.type()}, {},
                                          {{"peer", test::attrI(1)},
                                           {"group_size",
                                            test::attrI(ranks())}}),
                           {x});
    ASSERT_TRUE(sent.ok()) << sent.status();
  } else if (rank() == 1) {
    auto got = runOnWorld(test::singleOp("recv", {}, {x.type()},
                                         {{"peer", test::attrI(0)},
                                          {"group_size",
                                           test::attrI(ranks())}}),
                          {});
    ASSERT_TRUE(got.ok()) << got.status();
    for (int64_t i = 0; i < 6; ++i)
      EXPECT_EQ((*got)[0].getDouble(i),
                rankTensor(0, proto::F32, {6}).getDouble(i));
  }
}

TEST(Collectives, GroupSizeMustMatchTheWorld) {
  HostTensor x = rankTensor(rank(), proto::F32, {2});
  auto out = runOnWorld(
      test::singleOp("all_reduce", {x.type()}, {x.type()},
                     {{"reduction", test::attrS("sum")},
                      {"group_size", test::attrI(ranks() + 1)}}),
      {x});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("runs in a world of " +
                                        std::to_string(ranks())),
            std::string::npos)
      << out.status();
}

std::string fixture(const std::string &name) {
  const char *dir = std::getenv("KILN_PARALLEL_FIXTURES");
  return std::string(dir ? dir : ".") + "/" + name;
}

/// max |a - b| / max |a| over two tensors of one type.
double relativeDifference(const HostTensor &a, const HostTensor &b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numElements(); ++i) {
    diff = std::max(diff, std::abs(a.getDouble(i) - b.getDouble(i)));
    scale = std::max(scale, std::abs(a.getDouble(i)));
  }
  return scale > 0 ? diff / scale : diff;
}

/// One process's Executor of fixture `name`_1.pb and this rank's of
/// `name`_<ranks>.pb, both with their state initialised.
struct ExecutorPair {
  std::unique_ptr<Executor> whole, part;
};

void loadPair(const std::string &name, ExecutorPair &pair) {
  auto single = readExecutable(fixture(name + "_1.pb"));
  auto parallel =
      readExecutable(fixture(name + "_" + std::to_string(ranks()) + ".pb"));
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_TRUE(parallel.ok()) << parallel.status();
  auto whole = Executor::create(*single, {1});
  ExecutorOptions options;
  options.numThreads = 1;
  options.communicator = world;
  auto part = Executor::create(*parallel, options);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_TRUE(part.ok()) << part.status();
  ASSERT_TRUE((*whole)->initializeState().ok());
  ASSERT_TRUE((*part)->initializeState().ok());
  pair.whole = std::move(*whole);
  pair.part = std::move(*part);
}

/// Rows [start, start + n) of t along dimension 0.
HostTensor sliceRows(const HostTensor &t, int64_t start, int64_t n) {
  std::vector<int64_t> shape = t.shape();
  int64_t row = t.numElements() / shape[0];
  shape[0] = n;
  return t.elements(start * row, shape);
}

/// One global batch for the MLP's train_step (16 rows of 32 normal inputs,
/// 10 classes) and each rank's rows of it.
struct MlpBatch {
  static constexpr int64_t kBatch = 16, kInputs = 32, kClasses = 10;
  HostTensor x, labels, lr;

  explicit MlpBatch(std::mt19937_64 &rng)
      : x(proto::F32, {kBatch, kInputs}), labels(proto::I64, {kBatch}),
        lr(proto::F32, {}) {
    std::normal_distribution<double> normal;
    for (int64_t i = 0; i < x.numElements(); ++i)
      x.setDouble(i, normal(rng));
    for (int64_t b = 0; b < kBatch; ++b)
      labels.setInt(b, static_cast<int64_t>(rng() % kClasses));
    lr.setDouble(0, 1e-2);
  }

  std::map<std::string, HostTensor> whole() const {
    return {{"x", x}, {"labels", labels}, {"lr", lr}};
  }

  /// This rank's `local` rows starting at `at`.
  std::map<std::string, HostTensor> rows(int64_t at, int64_t local) const {
    return {{"x", sliceRows(x, at, local)},
            {"labels", sliceRows(labels, at, local)},
            {"lr", lr}};
  }
};

/// One global SFT batch for the reasoner's sft_step: random tokens and
/// targets, and a mask giving each row a different number of loss tokens, so
/// the ranks' counts differ and only a global count gives the single-process
/// mean. The shape is the single-process entry's "tokens".
struct SftBatch {
  HostTensor tokens, targets, mask, lr;

  static std::vector<int64_t> shapeOf(const Executor &whole) {
    std::vector<int64_t> shape;
    if (const proto::EntryPoint *entry = whole.entry("sft_step"))
      for (const proto::Argument &a : entry->arguments())
        if (a.name() == "tokens")
          shape.assign(entry->buffers(a.buffer()).shape().begin(),
                       entry->buffers(a.buffer()).shape().end());
    return shape;
  }

  SftBatch(const std::vector<int64_t> &shape, std::mt19937_64 &rng)
      : tokens(proto::I64, shape), targets(proto::I64, shape),
        mask(proto::F32, shape), lr(proto::F32, {}) {
    for (int64_t i = 0; i < tokens.numElements(); ++i) {
      tokens.setInt(i, static_cast<int64_t>(rng() % 8));
      targets.setInt(i, static_cast<int64_t>(rng() % 8));
      int64_t row = i / shape[1], col = i % shape[1];
      mask.setDouble(i, col < 2 + 3 * row ? 1.0 : 0.0);
    }
    lr.setDouble(0, 1e-3);
  }

  std::map<std::string, HostTensor> whole() const {
    return {
        {"tokens", tokens}, {"targets", targets}, {"mask", mask}, {"lr", lr}};
  }

  /// This rank's `local` rows starting at `at`.
  std::map<std::string, HostTensor> rows(int64_t at, int64_t local) const {
    return {{"tokens", sliceRows(tokens, at, local)},
            {"targets", sliceRows(targets, at, local)},
            {"mask", sliceRows(mask, at, local)},
            {"lr", lr}};
  }
};

TEST(DataParallel, MlpStepGivesTheSingleProcessLossAndWeights) {
  ExecutorPair pair;
  loadPair("mlp_step", pair);
  if (HasFatalFailure())
    return;
  Executor *whole = pair.whole.get(), *part = pair.part.get();

  int64_t local = MlpBatch::kBatch / ranks();
  std::mt19937_64 rng(7);
  for (int step = 0; step < 3; ++step) {
    MlpBatch data(rng);
    auto expected = whole->runNamed("train_step", data.whole());
    auto got = part->runNamed("train_step", data.rows(rank() * local, local));
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(got.ok()) << got.status();
    double want = expected->at("loss").getDouble(0);
    double have = got->at("loss").getDouble(0);
    EXPECT_LE(std::abs(have - want), 1e-6 * std::abs(want))
        << "step " << step << ": loss " << have << " on " << ranks()
        << " ranks, " << want << " in one process";
    for (const std::string &name :
         {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
      auto a = whole->getState(name);
      auto b = part->getState(name);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_LE(relativeDifference(*a, *b), 1e-5)
          << name << " after step " << step;
    }
  }
}

/// The bytes of two tensors are the same (type included).
bool sameBits(const HostTensor &a, const HostTensor &b) {
  return a.typeString() == b.typeString() && a.byteSize() == b.byteSize() &&
         std::memcmp(a.data(), b.data(), a.byteSize()) == 0;
}

// Collectives run on their own thread while the steps that do not read their
// results go on: the step overlaps communication, and its loss and weights
// are the same bits as with every collective blocking the steps after it.
TEST(DataParallel, OverlappedCollectivesKeepTheBits) {
  auto exe = readExecutable(
      fixture("reasoner_buckets_" + std::to_string(ranks()) + ".pb"));
  ASSERT_TRUE(exe.ok()) << exe.status();
  std::unique_ptr<Executor> runs[2];
  for (bool overlap : {false, true}) {
    ExecutorOptions options;
    options.numThreads = 1;
    options.communicator = world;
    options.overlapCollectives = overlap;
    auto executor = Executor::create(*exe, options);
    ASSERT_TRUE(executor.ok()) << executor.status();
    ASSERT_TRUE((*executor)->initializeState().ok());
    runs[overlap] = std::move(*executor);
  }
  std::vector<int64_t> shape = SftBatch::shapeOf(*runs[0]);
  ASSERT_EQ(shape.size(), 2u);
  int64_t local = shape[0];
  std::mt19937_64 rng(11);
  for (int step = 0; step < 2; ++step) {
    std::vector<int64_t> global = {local * ranks(), shape[1]};
    SftBatch data(global, rng);
    auto blocking = runs[0]->runNamed("sft_step",
                                      data.rows(rank() * local, local));
    auto overlapped = runs[1]->runNamed("sft_step",
                                        data.rows(rank() * local, local));
    ASSERT_TRUE(blocking.ok()) << blocking.status();
    ASSERT_TRUE(overlapped.ok()) << overlapped.status();
    EXPECT_EQ(runs[0]->lastOverlappedSteps(), 0);
    EXPECT_GT(runs[1]->lastOverlappedSteps(), 0) << "step " << step;
    for (const auto &[name, value] : *blocking)
      EXPECT_TRUE(sameBits(value, overlapped->at(name)))
          << name << " after step " << step;
  }
  for (const proto::StateEntry &e : runs[0]->executable().state()) {
    if (isDerivedState(e))
      continue; // computed on demand from the parameters compared here
    auto a = runs[0]->getState(e.name()), b = runs[1]->getState(e.name());
    ASSERT_TRUE(a.ok() && b.ok()) << e.name();
    EXPECT_TRUE(sameBits(*a, *b)) << e.name();
  }
}

/// This rank's loaded Executor of `name`, with its state initialised.
std::unique_ptr<Executor> loadPart(const std::string &name) {
  auto exe = readExecutable(fixture(name));
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok())
    return nullptr;
  ExecutorOptions options;
  options.numThreads = 1;
  options.communicator = world;
  auto part = Executor::create(*exe, options);
  EXPECT_TRUE(part.ok()) << part.status();
  if (!part.ok() || !(*part)->initializeState().ok())
    return nullptr;
  return std::move(*part);
}

/// Every rank's block of a ZeRO-1 shard, in rank order and cut to the
/// whole tensor's `elements`: the state as one process holds it.
HostTensor gatherShards(const HostTensor &shard, int64_t elements) {
  HostTensor all(shard.dtype(), {shard.numElements() * ranks()});
  absl::Status s = world->allGather(shard.data(), all.data(), shard.byteSize(),
                                    {"test", "gatherShards"});
  EXPECT_TRUE(s.ok()) << s;
  HostTensor whole(shard.dtype(), {elements});
  std::memcpy(whole.data(), all.data(), whole.byteSize());
  return whole;
}

// ZeRO-1 (kiln-shard-optimizer-state): the loss of one process, parameters
// bit for bit those of the all_reduce data-parallel step, each rank holding
// half of every moment, and the blocks together the one-process moments.
TEST(Zero1, MlpStepShardsTheMomentsAndKeepsTheSingleProcessStep) {
  ExecutorPair pair;
  loadPair("mlp_step", pair);
  if (HasFatalFailure())
    return;
  std::unique_ptr<Executor> zero =
      loadPart("mlp_step_zero_" + std::to_string(ranks()) + ".pb");
  ASSERT_NE(zero, nullptr);
  Executor *whole = pair.whole.get(), *replicated = pair.part.get();

  const std::vector<std::string> params = {"fc1.weight", "fc1.bias",
                                           "fc2.weight", "fc2.bias"};
  int64_t wholeBytes = 0, shardBytes = 0;
  for (const proto::StateEntry &e : zero->executable().state()) {
    bool moment = e.name().find(".exp_avg") != std::string::npos;
    auto full = whole->getState(e.name());
    ASSERT_TRUE(full.ok()) << e.name();
    if (!moment)
      continue;
    EXPECT_EQ(e.kind(), "optimizer_shard") << e.name();
    int64_t n = full->numElements();
    auto mine = zero->getState(e.name());
    ASSERT_TRUE(mine.ok());
    EXPECT_EQ(mine->numElements(), (n + ranks() - 1) / ranks()) << e.name();
    wholeBytes += full->byteSize();
    shardBytes += mine->byteSize();
  }
  // 32x64 + 64 + 64x10 + 10 elements: every tensor but fc2.bias's divides.
  EXPECT_GT(wholeBytes, 0);
  EXPECT_LE(shardBytes * ranks(), wholeBytes + 4 * ranks() * 8);
  EXPECT_GE(shardBytes * ranks(), wholeBytes);

  int64_t local = MlpBatch::kBatch / ranks();
  std::mt19937_64 rng(13);
  for (int step = 0; step < 3; ++step) {
    MlpBatch data(rng);
    auto expected = whole->runNamed("train_step", data.whole());
    std::map<std::string, HostTensor> mine = data.rows(rank() * local, local);
    auto allReduced = replicated->runNamed("train_step", mine);
    auto got = zero->runNamed("train_step", mine);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(allReduced.ok()) << allReduced.status();
    ASSERT_TRUE(got.ok()) << got.status();
    double want = expected->at("loss").getDouble(0);
    double have = got->at("loss").getDouble(0);
    EXPECT_LE(std::abs(have - want), 1e-6 * std::abs(want))
        << "step " << step << ": loss " << have << " with ZeRO-1, " << want
        << " in one process";
    for (const std::string &name : params) {
      auto one = whole->getState(name);
      auto dp = replicated->getState(name);
      auto z = zero->getState(name);
      ASSERT_TRUE(one.ok() && dp.ok() && z.ok());
      EXPECT_LE(relativeDifference(*one, *z), 1e-6)
          << name << " after step " << step;
      EXPECT_EQ(std::memcmp(dp->data(), z->data(), dp->byteSize()), 0)
          << name << " after step " << step
          << ": ZeRO-1 must update each element as the all_reduce step does";
      for (const char *moment : {".exp_avg", ".exp_avg_sq"}) {
        auto full = whole->getState(name + moment);
        auto shard = zero->getState(name + moment);
        ASSERT_TRUE(full.ok() && shard.ok());
        HostTensor joined = gatherShards(*shard, full->numElements());
        EXPECT_LE(
            relativeDifference(full->reshaped({full->numElements()}), joined),
            1e-5)
            << name << moment << " after step " << step;
      }
    }
  }
}

// The demo policy's SFT step clips by the global norm: with ZeRO-1 each rank
// sums the squares of its blocks and the partial sums are all_reduced, so
// the norm is summed in another order than one process sums it (f32: a few
// 1e-6 relative), and the parameters follow the all_reduce step's to within
// what that norm's rounding moves them.
TEST(Zero1, DemoPolicySftStepGivesTheSingleProcessLossAndNorm) {
  ExecutorPair pair;
  loadPair("reasoner", pair);
  if (HasFatalFailure())
    return;
  Executor *whole = pair.whole.get(), *replicated = pair.part.get();
  std::unique_ptr<Executor> zero =
      loadPart("reasoner_zero_" + std::to_string(ranks()) + ".pb");
  ASSERT_NE(zero, nullptr);

  std::vector<int64_t> shape = SftBatch::shapeOf(*whole);
  ASSERT_EQ(shape.size(), 2u);
  int64_t batch = shape[0], local = batch / ranks();
  std::mt19937_64 rng(17);
  for (int step = 0; step < 2; ++step) {
    SftBatch data(shape, rng);
    auto expected = whole->runNamed("sft_step", data.whole());
    std::map<std::string, HostTensor> mine = data.rows(rank() * local, local);
    auto allReduced = replicated->runNamed("sft_step", mine);
    auto got = zero->runNamed("sft_step", mine);
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(allReduced.ok()) << allReduced.status();
    ASSERT_TRUE(got.ok()) << got.status();
    for (const char *name : {"loss", "grad_norm"}) {
      double want = expected->at(name).getDouble(0);
      double have = got->at(name).getDouble(0);
      double tolerance = std::string(name) == "loss" ? 1e-6 : 1e-5;
      EXPECT_LE(std::abs(have - want), tolerance * std::abs(want))
          << "step " << step << ": " << name << " " << have << " with ZeRO-1, "
          << want << " in one process";
    }
    for (const proto::StateEntry &e : whole->executable().state()) {
      if (e.kind() != "parameter")
        continue;
      auto a = replicated->getState(e.name());
      auto b = zero->getState(e.name());
      ASSERT_TRUE(a.ok() && b.ok()) << e.name();
      EXPECT_LE(relativeDifference(*a, *b), 1e-6)
          << e.name() << " after step " << step;
    }
  }
}

TEST(DataParallel, DemoPolicySftStepGivesTheSingleProcessLoss) {
  ExecutorPair pair;
  loadPair("reasoner", pair);
  if (HasFatalFailure())
    return;
  Executor *whole = pair.whole.get(), *part = pair.part.get();

  std::vector<int64_t> shape = SftBatch::shapeOf(*whole);
  ASSERT_EQ(shape.size(), 2u);
  int64_t batch = shape[0], local = batch / ranks();
  std::mt19937_64 rng(11);
  for (int step = 0; step < 2; ++step) {
    SftBatch data(shape, rng);
    auto expected = whole->runNamed("sft_step", data.whole());
    auto got = part->runNamed("sft_step", data.rows(rank() * local, local));
    ASSERT_TRUE(expected.ok()) << expected.status();
    ASSERT_TRUE(got.ok()) << got.status();
    for (const char *name : {"loss", "grad_norm"}) {
      double want = expected->at(name).getDouble(0);
      double have = got->at(name).getDouble(0);
      EXPECT_LE(std::abs(have - want), 1e-6 * std::abs(want))
          << "step " << step << ": " << name << " " << have << " on "
          << ranks() << " ranks, " << want << " in one process";
    }
  }
}

TEST(ExpertParallel, MoeLayerGivesTheSingleProcessOutputAndGradients) {
  ExecutorPair pair;
  loadPair("moe_layer", pair);
  if (HasFatalFailure())
    return;
  Executor *whole = pair.whole.get(), *part = pair.part.get();
  // Replicated state initialises identically; each rank's experts are its
  // slice of the single process's.
  const char *experts[] = {"mlp.experts.gate_proj", "mlp.experts.up_proj",
                           "mlp.experts.down_proj"};
  for (const char *name : experts) {
    auto full = whole->getState(name);
    ASSERT_TRUE(full.ok()) << full.status();
    int64_t mine = full->dim(0) / ranks();
    ASSERT_TRUE(
        part->setState(name, sliceRows(*full, rank() * mine, mine)).ok());
  }

  // Both ranks' tokens: the single process sees them as a batch of two.
  constexpr int64_t seq = 6, hidden = 16;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  HostTensor x(proto::F32, {ranks(), seq, hidden});
  for (int64_t i = 0; i < x.numElements(); ++i)
    x.setDouble(i, normal(rng));
  auto expected = whole->runNamed("layer", {{"x", x}});
  auto got = part->runNamed("layer", {{"x", sliceRows(x, rank(), 1)}});
  ASSERT_TRUE(expected.ok()) << expected.status();
  ASSERT_TRUE(got.ok()) << got.status();
  // Rank r's tokens and gradient rows, and the gradient of its experts
  // (which sums every rank's tokens routed to them).
  EXPECT_LE(relativeDifference(sliceRows(expected->at("y"), rank(), 1),
                               got->at("y")),
            1e-5);
  EXPECT_LE(relativeDifference(sliceRows(expected->at("dx"), rank(), 1),
                               got->at("dx")),
            1e-5);
  for (const char *name : {"d_gate_proj", "d_up_proj", "d_down_proj"}) {
    const HostTensor &full = expected->at(name);
    int64_t mine = full.dim(0) / ranks();
    EXPECT_LE(relativeDifference(sliceRows(full, rank() * mine, mine),
                                 got->at(name)),
              1e-5)
        << name;
  }
}

// kiln-train's host exchanges (models/train/TrainRanks.h): what every rank
// gathers must be every rank's, in rank order, whatever its length.
TEST(TrainRanks, GatherByteStringsOfEveryLength) {
  train::TrainRanks ranks(world);
  // Rank r sends r * 3 bytes of 'a' + r (rank 0 sends none).
  auto all = ranks.allGather(std::string(rank() * 3, 'a' + rank()), "test");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(ranks.size()));
  for (int r = 0; r < ranks.size(); ++r)
    EXPECT_EQ((*all)[r], std::string(r * 3, 'a' + r));
  auto summed = ranks.sum({0.5 * (rank() + 1), -1.0}, "test");
  ASSERT_TRUE(summed.ok()) << summed.status();
  double want = 0;
  for (int r = 0; r < ranks.size(); ++r)
    want += 0.5 * (r + 1);
  EXPECT_EQ((*summed)[0], want);
  EXPECT_EQ((*summed)[1], -1.0 * ranks.size());
  auto any = ranks.any(rank() == ranks.size() - 1, "test");
  ASSERT_TRUE(any.ok() && *any);
  auto none = ranks.any(false, "test");
  ASSERT_TRUE(none.ok() && !*none);
}

TEST(TrainRanks, AgreeFailsEveryRankNamingTheOneThatFailed) {
  train::TrainRanks ranks(world);
  const int failing = ranks.size() - 1;
  absl::Status mine = rank() == failing
                          ? absl::PermissionDeniedError("disk says no")
                          : absl::OkStatus();
  absl::Status agreed = ranks.agree(mine, "checkpoint");
  EXPECT_EQ(agreed.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(agreed.message().find("disk says no"), std::string::npos) << agreed;
  if (rank() != failing)
    EXPECT_NE(agreed.message().find("rank " + std::to_string(failing)),
              std::string::npos)
        << agreed;
  EXPECT_TRUE(ranks.agree(absl::OkStatus(), "checkpoint").ok());
}

TEST(TrainRanks, GatheredCompletionsAreTheWholeBatchInOrder) {
  train::TrainRanks ranks(world);
  // 5 completions shared contiguously: rank r scores its own.
  auto make = [](int64_t i) {
    train::ScoredCompletion c;
    for (int64_t t = 0; t <= i; ++t)
      c.result.tokens.push_back(100 * i + t);
    c.result.finishReason =
        i % 2 ? models::FinishReason::eos : models::FinishReason::length;
    c.score.accuracy = i % 2;
    c.score.format = 1;
    c.score.total = 0.25 * i;
    c.functionValues = {static_cast<double>(i), -0.5};
    c.overlongPenalty = -0.125 * i;
    return c;
  };
  auto [begin, end] = ranks.share(5);
  std::vector<train::ScoredCompletion> mine;
  for (int64_t i = begin; i < end; ++i)
    mine.push_back(make(i));
  auto all = train::gatherCompletions(ranks, mine, "test");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    train::ScoredCompletion want = make(i);
    const train::ScoredCompletion &got = (*all)[i];
    EXPECT_EQ(got.result.tokens, want.result.tokens) << i;
    EXPECT_EQ(got.result.finishReason, want.result.finishReason) << i;
    EXPECT_EQ(got.score.accuracy, want.score.accuracy) << i;
    EXPECT_EQ(got.score.total, want.score.total) << i;
    EXPECT_EQ(got.functionValues, want.functionValues) << i;
    EXPECT_EQ(got.overlongPenalty, want.overlongPenalty) << i;
  }
  // Shares of a mean add up; the global entries stay as they are.
  auto combined = train::combineUpdateMetrics(
      ranks, {{"entropy", 0.5 * (rank() + 1)}, {"loss", 7.0}}, {"loss"});
  ASSERT_TRUE(combined.ok()) << combined.status();
  double entropy = 0;
  for (int r = 0; r < ranks.size(); ++r)
    entropy += 0.5 * (r + 1);
  EXPECT_EQ(combined->at("entropy"), entropy);
  EXPECT_EQ(combined->at("loss"), 7.0);
}

// Run alone (KILN_TEST_STOP_RANK=R, a short KILN_COLLECTIVE_TIMEOUT): rank R
// stops itself with SIGSTOP, as a hung process would, and every other rank
// must fail its next collective naming R within the deadline. The job then
// ends through MPI_Abort when the communicator goes.
TEST(Failure, AStoppedRankIsNamed) {
  const char *stop = std::getenv("KILN_TEST_STOP_RANK");
  if (!stop)
    GTEST_SKIP() << "set KILN_TEST_STOP_RANK to run";
  int stopped = std::atoi(stop);
  if (rank() == stopped) {
    std::raise(SIGSTOP);
    return;
  }
  HostTensor x = rankTensor(rank(), proto::F32, {4});
  auto start = std::chrono::steady_clock::now();
  auto out = runOnWorld(test::singleOp("all_reduce", {x.type()}, {x.type()},
                                       {{"reduction", test::attrS("sum")},
                                        {"group_size", test::attrI(ranks())}}),
                        {x});
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_FALSE(out.ok());
  std::string message(out.status().message());
  EXPECT_NE(message.find("rank " + std::to_string(stopped) +
                         " did not reach it"),
            std::string::npos)
      << message;
  const char *timeout = std::getenv("KILN_COLLECTIVE_TIMEOUT");
  double deadline = timeout ? std::atof(timeout) : 300;
  EXPECT_GE(seconds, deadline);
  EXPECT_LT(seconds, deadline + 2) << "the rank did not fail at its deadline";
  std::fprintf(stderr, "rank %d: failed after %.1f s: %s\n", rank(), seconds,
               message.c_str());
}

} // namespace
} // namespace kiln

int main(int argc, char **argv) {
  testing::InitGoogleTest(&argc, argv);
  auto joined = kiln::joinHostWorld();
  if (!joined.ok()) {
    std::fprintf(stderr, "cannot join the world: %s\n",
                 std::string(joined.status().message()).c_str());
    return 1;
  }
  kiln::world = *joined;
  int rc = RUN_ALL_TESTS();
  // Finalises MPI, or aborts the job if a collective failed.
  kiln::world.reset();
  return rc;
}
