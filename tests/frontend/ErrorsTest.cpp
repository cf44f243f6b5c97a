// Sticky errors: the first bad call is kept with the op, the operand types and
// this file's name and line; later calls become no-ops; build() returns it.

#include "frontend/Kiln.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kiln {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::string here(int line) {
  return "ErrorsTest.cpp:" + std::to_string(line) + ": ";
}

std::string message(const Graph &g) {
  return std::string(g.status().message());
}

TEST(Errors, ShapeMismatchNamesOpShapesFileAndLine) {
  Graph g;
  Function &f = g.function("f");
  Tensor a = f.input("a", {2, 3}, DType::f32);
  Tensor b = f.input("b", {4}, DType::f32);
  int line = __LINE__ + 1;
  Tensor c = a + b;
  EXPECT_FALSE(c.valid());
  ASSERT_FALSE(g.status().ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  std::string m = message(g);
  EXPECT_THAT(m, HasSubstr(here(line) + "kiln.add: "));
  EXPECT_THAT(m, HasSubstr("tensor<2x3xf32>"));
  EXPECT_THAT(m, HasSubstr("tensor<4xf32>"));
  EXPECT_THAT(m, HasSubstr("do not broadcast"));
  absl::StatusOr<IrModule> module = g.build();
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status(), g.status());
}

TEST(Errors, LaterOpsAreNoOpsAndTheFirstErrorIsKept) {
  Graph g;
  Function &f = g.function("f");
  Tensor a = f.input("a", {2, 3}, DType::f32);
  Tensor b = f.input("b", {3, 2}, DType::f32);
  int line = __LINE__ + 1;
  Tensor bad = a - b;
  std::string first = message(g);
  // Each of these would be an error on its own; none may crash or replace it.
  Tensor c = exp(bad) * 2.0 + a;
  Tensor d = matmul(a, a);
  Tensor e = reshape(a, {7});
  Tensor k = f.input("k", {}, DType::i64);
  Tensor r = randomUniform(k, {2}, DType::f32);
  auto [values, indices] = topk(bad, 1);
  f.output("c", c);
  f.output("e", e);
  f.update(State(), a);
  EXPECT_FALSE(c.valid());
  EXPECT_FALSE(d.valid());
  EXPECT_FALSE(e.valid());
  EXPECT_FALSE(k.valid());
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(values.valid());
  EXPECT_FALSE(indices.valid());
  EXPECT_EQ(c.shape(), Shape());
  EXPECT_EQ(message(g), first);
  EXPECT_THAT(first, HasSubstr(here(line) + "kiln.sub"));
  EXPECT_FALSE(g.build().ok());
}

TEST(Errors, MixingGraphs) {
  Graph g1("one"), g2("two");
  Tensor a = g1.function("f").input("a", {2}, DType::f32);
  Tensor b = g2.function("f").input("b", {2}, DType::f32);
  int line = __LINE__ + 1;
  Tensor c = a * b;
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(message(g1),
              HasSubstr(here(line) + "kiln.mul: operand 1 belongs to "
                                     "graph 'two'"));
  EXPECT_FALSE(g2.status().ok());
}

TEST(Errors, MixingFunctions) {
  Graph g;
  Tensor a = g.function("f").input("a", {2}, DType::f32);
  Tensor b = g.function("h").input("b", {2}, DType::f32);
  Tensor c = maximum(a, b);
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(message(g),
              HasSubstr("kiln.maximum: operand 1 belongs to function 'h', "
                        "not 'f'"));
}

TEST(Errors, OutputOfAnotherFunctionsValue) {
  Graph g;
  Tensor a = g.function("f").input("a", {2}, DType::f32);
  g.function("h").output("a", a);
  EXPECT_THAT(message(g),
              HasSubstr("Function::output: operand 0 belongs to function "
                        "'f', not 'h'"));
}

TEST(Errors, BadReshapes) {
  {
    Graph g;
    Tensor a = g.function("f").input("a", {2, 3}, DType::f32);
    int line = __LINE__ + 1;
    EXPECT_FALSE(a.reshape({4, -1}).valid());
    EXPECT_THAT(message(g),
                HasSubstr(here(line) + "kiln.reshape: cannot reshape "
                                       "tensor<2x3xf32> (6 elements) to "
                                       "[4, -1]"));
  }
  {
    Graph g;
    Tensor a = g.function("f").input("a", {2, 3}, DType::f32);
    EXPECT_FALSE(reshape(a, {-1, -1}).valid());
    EXPECT_THAT(message(g), HasSubstr("more than one -1"));
  }
  {
    Graph g;
    Tensor a = g.function("f").input("a", {2, 3}, DType::f32);
    EXPECT_FALSE(reshape(a, {5}).valid());
    EXPECT_THAT(message(g),
                HasSubstr("kiln.reshape: cannot reshape tensor<2x3xf32> "
                          "(6 elements) to [5] (5 elements)"));
  }
}

TEST(Errors, MessageListsOperandTypesTheInferenceLeftOut) {
  Graph g;
  Tensor a = g.function("f").input("a", {2, 3}, DType::f32);
  Tensor ids = g.function("f").input("ids", {4}, DType::i32);
  EXPECT_TRUE(a.valid());
  EXPECT_FALSE(bincount(ids, -1).valid());
  EXPECT_THAT(message(g),
              HasSubstr("kiln.bincount: length must be >= 0, got -1 "
                        "(operands: tensor<4xi32>)"));
}

TEST(Errors, DuplicateNames) {
  {
    Graph g;
    Function &f = g.function("f");
    f.input("x", {1}, DType::f32);
    int line = __LINE__ + 1;
    f.input("x", {1}, DType::f32);
    EXPECT_THAT(message(g),
                HasSubstr(here(line) + "Function::input: function 'f' "
                                       "already has an input named 'x'"));
  }
  {
    Graph g;
    Function &f = g.function("f");
    Tensor x = f.input("x", {1}, DType::f32);
    f.output("y", x);
    f.output("y", x);
    EXPECT_THAT(message(g), HasSubstr("already has an output named 'y'"));
  }
  {
    Graph g;
    g.parameter("w", {2}, DType::f32, init::zeros());
    State again = g.parameter("w", {3}, DType::f32, init::zeros());
    EXPECT_FALSE(again.valid());
    EXPECT_THAT(message(g),
                HasSubstr("Graph::state: state 'w' is already declared as "
                          "tensor<2xf32>"));
  }
  {
    Graph g;
    State w = g.parameter("w", {2}, DType::f32, init::zeros());
    Function &f = g.function("f");
    Tensor v = f.read(w);
    f.update(w, v);
    f.update(w, v);
    EXPECT_THAT(message(g), HasSubstr("already updates state 'w'"));
  }
}

TEST(Errors, UpdateWithWrongType) {
  Graph g;
  State w = g.parameter("w", {4, 4}, DType::f32, init::zeros());
  Function &f = g.function("f");
  Tensor x = f.input("x", {4, 3}, DType::f32);
  int line = __LINE__ + 1;
  f.update(w, x);
  EXPECT_THAT(message(g),
              HasSubstr(here(line) + "Function::update: state 'w' is "
                                     "tensor<4x4xf32> but the new value is "
                                     "tensor<4x3xf32>"));
  Graph h;
  State v = h.parameter("v", {2}, DType::f32, init::zeros());
  Function &fh = h.function("f");
  fh.update(v, fh.input("x", {2}, DType::bf16));
  EXPECT_THAT(message(h), HasSubstr("tensor<2xf32> but the new value is "
                                    "tensor<2xbf16>"));
}

TEST(Errors, UnknownOrForeignState) {
  {
    Graph g;
    Tensor t = g.function("f").read(State());
    EXPECT_FALSE(t.valid());
    EXPECT_THAT(message(g), HasSubstr("Function::read: invalid State"));
  }
  {
    Graph g1("one"), g2("two");
    State w = g2.parameter("w", {2}, DType::f32, init::zeros());
    g1.function("f").read(w);
    EXPECT_THAT(message(g1),
                HasSubstr("state 'w' belongs to graph 'two', not 'one'"));
    EXPECT_TRUE(g2.status().ok());
  }
}

TEST(Errors, DefaultConstructedTensorOperand) {
  Graph g;
  Tensor a = g.function("f").input("a", {2}, DType::f32);
  Tensor c = a + Tensor();
  EXPECT_FALSE(c.valid());
  EXPECT_THAT(message(g), HasSubstr("kiln.add: operand 1 is an invalid "
                                    "(default-constructed) Tensor"));
  // With no graph anywhere there is nothing to record into; it must not crash.
  EXPECT_FALSE(exp(Tensor()).valid());
  EXPECT_FALSE((Tensor() * 2.0).valid());
}

TEST(Errors, DimOutOfRange) {
  Graph g;
  Tensor a = g.function("f").input("a", {2}, DType::f32);
  EXPECT_EQ(a.dim(3), 0);
  EXPECT_THAT(message(g),
              HasSubstr("Tensor::dim: dimension 3 is out of range for "
                        "tensor<2xf32>"));
}

TEST(Errors, DeclaredResultOpsAreVerified) {
  {
    Graph g;
    Function &f = g.function("f");
    Tensor k = f.input("key", {}, DType::i32);
    EXPECT_FALSE(randomNormal(k, {3}).valid());
    EXPECT_THAT(message(g),
                HasSubstr("kiln.random_normal: key must be tensor<i64>, "
                          "got 'tensor<i32>'"));
    // The rejected op was erased; nothing dangling reaches the (failing) build.
    EXPECT_FALSE(g.build().ok());
  }
  {
    Graph g;
    EXPECT_FALSE(iota(g.function("f"), {2, 2}, 2, DType::i32).valid());
    EXPECT_THAT(message(g),
                HasSubstr("kiln.iota: dimension 2 is out of range"));
  }
  {
    Graph g;
    EXPECT_FALSE(iota(g.function("f"), {2, -2}, 0, DType::i32).valid());
    EXPECT_THAT(message(g), HasSubstr("negative dimension"));
  }
}

// Shapes whose element count wraps int64 made a short buffer that a kernel
// wrote past; they are sticky errors where they enter, and a later op is a
// no-op. Messages never report a wrapped count.
TEST(Errors, ShapesThatOverflowAreErrors) {
  const int64_t big = int64_t{1} << 32;
  {
    Graph g;
    Function &f = g.function("f");
    int line = __LINE__ + 1;
    Tensor x = f.input("x", {big, big}, DType::f32);
    EXPECT_FALSE(x.valid());
    f.output("y", x + x);
    EXPECT_THAT(message(g),
                HasSubstr(here(line) + "Function::input: shape [" +
                          std::to_string(big) + ", " + std::to_string(big) +
                          "] has more elements than a 64-bit "
                          "size holds"));
  }
  {
    Graph g;
    Function &f = g.function("f");
    Tensor i = f.input("i", {4}, DType::i64);
    int line = __LINE__ + 1;
    f.output("y", oneHot(i, int64_t{1} << 62, DType::f32));
    EXPECT_THAT(message(g), HasSubstr(here(line) + "kiln.one_hot"));
    EXPECT_THAT(message(g), HasSubstr("more elements or bytes than a 64-bit"));
  }
  {
    Graph g;
    Function &f = g.function("f");
    Tensor x = f.input("x", {4}, DType::f32);
    f.output("y", reshape(x, {big, big, -1}));
    EXPECT_THAT(message(g), HasSubstr("has more elements than a 64-bit size"));
    EXPECT_THAT(message(g), Not(HasSubstr("(0 elements)")));
  }
}

TEST(Errors, ConstantValueCount) {
  Graph g;
  EXPECT_FALSE(
      constant(g.function("f"), {1, 2, 3}, {2, 2}, DType::f32).valid());
  EXPECT_THAT(message(g),
              HasSubstr("kiln.constant: got 3 values for tensor<2x2xf32> "
                        "(4 elements)"));
}

TEST(Errors, UseAfterBuild) {
  Graph g;
  Function &f = g.function("f");
  Tensor x = f.input("x", {2}, DType::f32);
  f.output("x", x);
  ASSERT_TRUE(g.build().ok());
  EXPECT_FALSE(exp(x).valid());
  EXPECT_THAT(message(g),
              HasSubstr("kiln.exp: graph 'kiln' was already built"));
}

TEST(Errors, ErrorMessageStartsWithTheCallersFile) {
  Graph g;
  Tensor a = g.function("f").input("a", {2}, DType::f32);
  (void)cast(a, DType::i32).sum({4});
  EXPECT_THAT(message(g), StartsWith(__FILE__));
}

} // namespace
} // namespace kiln
