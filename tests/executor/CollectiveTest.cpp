// The collective kernels in a world of one process (the default when no
// launcher started the executor): each is the identity on its data, and a
// program compiled for more ranks, or a peer that does not exist, is a clear
// error. tests/comm runs them across MPI ranks.
#include <cstring>

#include "tests/executor/TestUtil.h"

namespace kiln::test {
namespace {

proto::TensorType tensorType(proto::DType dtype, Shape shape) {
  proto::TensorType t;
  t.set_dtype(dtype);
  for (int64_t d : shape)
    t.add_shape(d);
  return t;
}

HostTensor iota(proto::DType dtype, Shape shape) {
  HostTensor t(dtype, shape);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setDouble(i, 0.5 * i - 3);
  return t;
}

void expectSameBits(const HostTensor &a, const HostTensor &b) {
  ASSERT_TRUE(a.hasType(b.type())) << a.typeString() << " vs " << b.typeString();
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.byteSize()));
}

TEST(CollectiveOneRank, AllReduceGatherScatterAreTheIdentity) {
  for (proto::DType dtype : {proto::F32, proto::BF16, proto::I32}) {
    HostTensor x = iota(dtype, {3, 4});
    auto reduced = runOp("all_reduce", {x}, {x.type()},
                         {{"reduction", attrS("sum")}, {"group_size", attrI(1)}});
    ASSERT_TRUE(reduced.ok()) << reduced.status();
    expectSameBits((*reduced)[0], x);
    auto gathered = runOp("all_gather", {x}, {x.type()},
                          {{"axis", attrI(1)}, {"group_size", attrI(1)}});
    ASSERT_TRUE(gathered.ok()) << gathered.status();
    expectSameBits((*gathered)[0], x);
    auto scattered = runOp("reduce_scatter", {x}, {x.type()},
                           {{"axis", attrI(0)}, {"group_size", attrI(1)}});
    ASSERT_TRUE(scattered.ok()) << scattered.status();
    expectSameBits((*scattered)[0], x);
  }
}

TEST(CollectiveOneRank, AllToAllKeepsTheCountedRowsAndZerosTheRest) {
  HostTensor x = iota(proto::F32, {4, 2});
  HostTensor counts(proto::I64, {1});
  counts.setInt(0, 3);
  auto out = runOp("all_to_all", {x, counts},
                   {tensorType(proto::F32, {5, 2}), tensorType(proto::I64, {1})},
                   {{"capacity", attrI(5)}, {"group_size", attrI(1)}});
  ASSERT_TRUE(out.ok()) << out.status();
  for (int64_t i = 0; i < 10; ++i)
    EXPECT_EQ((*out)[0].getDouble(i), i < 6 ? x.getDouble(i) : 0.0) << i;
  EXPECT_EQ((*out)[1].getInt(0), 3);

  counts.setInt(0, 6); // more rows than x has
  auto bad = runOp("all_to_all", {x, counts},
                   {tensorType(proto::F32, {8, 2}), tensorType(proto::I64, {1})},
                   {{"capacity", attrI(8)}, {"group_size", attrI(1)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("send counts that total 6 rows of an "
                                        "x of 4"),
            std::string::npos)
      << bad.status();

  counts.setInt(0, 4); // all rows, but past the capacity
  auto full = runOp("all_to_all", {x, counts},
                    {tensorType(proto::F32, {2, 2}), tensorType(proto::I64, {1})},
                    {{"capacity", attrI(2)}, {"group_size", attrI(1)}});
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("past capacity 2"), std::string::npos)
      << full.status();
}

TEST(CollectiveOneRank, MoreRanksThanTheWorldIsAnError) {
  HostTensor x = iota(proto::F32, {2});
  auto out = runOp("all_reduce", {x}, {x.type()},
                   {{"reduction", attrS("sum")}, {"group_size", attrI(2)}});
  ASSERT_FALSE(out.ok());
  std::string message(out.status().message());
  EXPECT_NE(message.find("was compiled for 2 ranks but runs in a world of 1"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("mpirun -np 2"), std::string::npos) << message;
}

TEST(CollectiveOneRank, APeerThatDoesNotExistIsAnError) {
  HostTensor x = iota(proto::F32, {2});
  auto sent = runOp("send", {x}, {}, {{"peer", attrI(0)}, {"group_size", attrI(1)}});
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.status().message().find("a single process has no peer"),
            std::string::npos)
      << sent.status();
}

} // namespace
} // namespace kiln::test
