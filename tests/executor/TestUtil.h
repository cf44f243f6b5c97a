// Helpers for executor tests: one-op Executables built by hand, seeded random inputs
// rounded to their dtype, and comparison against double references per dtype.
#ifndef KILN_TESTS_EXECUTOR_TESTUTIL_H
#define KILN_TESTS_EXECUTOR_TESTUTIL_H

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/Executor.h"
#include "executor/HostTensor.h"
#include "executor/cpu/Compute.h"

namespace kiln::test {

using Shape = std::vector<int64_t>;
using Attrs = std::map<std::string, proto::Attr>;

inline proto::Attr attrI(int64_t v) { proto::Attr a; a.set_i(v); return a; }
inline proto::Attr attrF(double v) { proto::Attr a; a.set_f(v); return a; }
inline proto::Attr attrB(bool v) { proto::Attr a; a.set_b(v); return a; }
inline proto::Attr attrS(const std::string &v) { proto::Attr a; a.set_s(v); return a; }
inline proto::Attr attrType(proto::DType v) { proto::Attr a; a.set_type(v); return a; }
inline proto::Attr attrInts(const std::vector<int64_t> &v) {
  proto::Attr a;
  a.mutable_ints(); // an empty list is still a list
  for (int64_t x : v)
    a.mutable_ints()->add_values(x);
  return a;
}
inline proto::Attr attrTensor(const HostTensor &t) {
  proto::Attr a;
  *a.mutable_tensor() = t.toLiteral();
  return a;
}

/// An Executable with one entry "main": arguments a0.. in buffers 0.., one step of `op`
/// writing buffers n.., results r0...
inline proto::Executable singleOp(const std::string &op, const std::vector<proto::TensorType> &ins,
                                  const std::vector<proto::TensorType> &outs,
                                  const Attrs &attrs = {}) {
  proto::Executable exe;
  exe.set_target("host");
  proto::EntryPoint *ep = exe.add_entries();
  ep->set_name("main");
  proto::Step *step = ep->add_steps();
  step->set_op(op);
  step->set_location("test.cc:1:1");
  for (const auto &[k, v] : attrs)
    (*step->mutable_attrs())[k] = v;
  int b = 0;
  for (const proto::TensorType &t : ins) {
    *ep->add_buffers() = t;
    proto::Argument *a = ep->add_arguments();
    a->set_name("a" + std::to_string(b));
    a->set_buffer(b);
    step->add_inputs(b++);
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    *ep->add_buffers() = outs[i];
    proto::Result *r = ep->add_results();
    r->set_name("r" + std::to_string(i));
    r->set_buffer(b);
    r->set_aliases_argument(-1);
    step->add_outputs(b++);
  }
  return exe;
}

inline absl::StatusOr<std::vector<HostTensor>>
runOp(const std::string &op, const std::vector<HostTensor> &inputs,
      const std::vector<proto::TensorType> &outs, const Attrs &attrs = {}, int threads = 2) {
  std::vector<proto::TensorType> ins;
  for (const HostTensor &t : inputs)
    ins.push_back(t.type());
  auto exe = Executor::create(singleOp(op, ins, outs, attrs), {threads});
  if (!exe.ok())
    return exe.status();
  return (*exe)->run("main", inputs);
}

/// Runs and asserts success, returning result 0.
inline HostTensor run1(const std::string &op, const std::vector<HostTensor> &inputs,
                       const proto::TensorType &out, const Attrs &attrs = {}) {
  auto r = runOp(op, inputs, {out}, attrs);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status();
  if (!r.ok())
    return HostTensor();
  return (*r)[0];
}

inline std::mt19937_64 &rng() {
  static std::mt19937_64 gen(20261128);
  return gen;
}

/// Uniform values in [lo, hi), rounded to the dtype (so the reference sees what is stored).
inline HostTensor randomTensor(proto::DType dtype, Shape shape, double lo = -2, double hi = 2) {
  HostTensor t(dtype, shape);
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setDouble(i, d(rng()));
  return t;
}

inline HostTensor randomInts(proto::DType dtype, Shape shape, int64_t lo, int64_t hi) {
  HostTensor t(dtype, shape);
  std::uniform_int_distribution<int64_t> d(lo, hi);
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.setInt(i, d(rng()));
  return t;
}

inline HostTensor ints(proto::DType dtype, Shape shape, const std::vector<int64_t> &v) {
  HostTensor t(dtype, shape);
  for (size_t i = 0; i < v.size(); ++i)
    t.setInt(static_cast<int64_t>(i), v[i]);
  return t;
}

struct Tolerance {
  double rtol, atol;
};
inline Tolerance tolerance(proto::DType d) {
  switch (d) {
  case proto::F64:
    return {1e-12, 1e-12};
  case proto::F32:
    return {2e-5, 2e-6};
  case proto::F16:
    return {2e-3, 1e-4};
  case proto::BF16:
    return {1e-2, 1e-3};
  case proto::F8E4M3FN:
    return {0.07, 0.02};
  case proto::F8E5M2:
    return {0.13, 0.02};
  default:
    return {0, 0};
  }
}

/// Compares a result with a double reference; NaN must match NaN.
inline void expectClose(const HostTensor &got, const std::vector<double> &ref,
                        const std::string &what = "", double scale = 1.0) {
  ASSERT_EQ(got.numElements(), static_cast<int64_t>(ref.size())) << what;
  Tolerance tol = tolerance(got.dtype());
  int failures = 0;
  for (int64_t i = 0; i < got.numElements() && failures < 5; ++i) {
    double g = got.getDouble(i), r = ref[i];
    bool ok = (std::isnan(r) && std::isnan(g)) || g == r ||
              std::fabs(g - r) <= scale * (tol.atol + tol.rtol * std::fabs(r));
    if (!ok)
      ++failures;
    EXPECT_TRUE(ok) << what << " " << got.typeString() << " element " << i << ": got " << g
                    << ", want " << r;
  }
}

inline std::vector<int64_t> unravel(int64_t flat, const Shape &shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

/// Flat index into `in` of the element that broadcasts to out-index `idx`.
inline int64_t broadcastIndex(const std::vector<int64_t> &idx, const Shape &in) {
  int64_t flat = 0;
  size_t off = idx.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d)
    flat = flat * in[d] + (in[d] == 1 ? 0 : idx[off + d]);
  return flat;
}

inline proto::TensorType tt(proto::DType d, Shape s) { return makeType(d, s); }

} // namespace kiln::test

#endif // KILN_TESTS_EXECUTOR_TESTUTIL_H
