//===- CompileTestUtil.h - parse, compile and run IR in tests ---*- C++ -*-===//
//
// Shared by the codegen tests: text IR -> Executable -> CPU executor results;
// and by the tests of graph code: a frontend Graph -> CPU executor.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_CODEGEN_COMPILETESTUTIL_H
#define KILN_TESTS_CODEGEN_COMPILETESTUTIL_H

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "frontend/Graph.h"
#include "gtest/gtest.h"

namespace kiln::testing {

inline absl::StatusOr<proto::Executable>
compileText(const std::string &text, codegen::CompileOptions options = {}) {
  auto module = IrModule::parse(text, "test.mlir");
  if (!module.ok())
    return module.status();
  return codegen::compile(*module, options);
}

/// `exe` loaded on the CPU executor with its state initialised; null, with
/// the failing step's status recorded, where a step fails.
inline std::unique_ptr<Executor>
startExecutor(const absl::StatusOr<proto::Executable> &exe) {
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok())
    return nullptr;
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok())
    return nullptr;
  EXPECT_TRUE((*executor)->initializeState().ok());
  return std::move(*executor);
}

/// Builds `graph`, compiles it for the host and loads it on the CPU executor,
/// its state uninitialised; null, with the failing step's status recorded,
/// where a step fails.
inline std::unique_ptr<Executor>
compileGraph(Graph &graph, const codegen::CompileOptions &options = {}) {
  auto module = graph.build();
  EXPECT_TRUE(module.ok()) << module.status();
  if (!module.ok())
    return nullptr;
  auto exe = codegen::compile(*module, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok())
    return nullptr;
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  return executor.ok() ? std::move(*executor) : nullptr;
}

/// Compiles and runs entry `entry` on `inputs`, returning its results.
inline std::vector<HostTensor> compileAndRun(const std::string &text,
                                             const std::vector<HostTensor> &inputs,
                                             codegen::CompileOptions options = {},
                                             const std::string &entry = "main") {
  auto exe = compileText(text, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok())
    return {};
  auto executor = Executor::create(*exe);
  EXPECT_TRUE(executor.ok()) << executor.status();
  if (!executor.ok())
    return {};
  auto results = (*executor)->run(entry, inputs);
  EXPECT_TRUE(results.ok()) << results.status();
  return results.ok() ? *results : std::vector<HostTensor>{};
}

/// Fresh normal samples (never zeros) rounded to `dtype`.
inline HostTensor randomTensor(proto::DType dtype, std::vector<int64_t> shape,
                               std::mt19937_64 &rng, double scale = 1.0) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> values(n);
  for (double &v : values)
    v = normal(rng);
  return HostTensor::fromDoubles(dtype, std::move(shape), values);
}

inline HostTensor intTensor(proto::DType dtype, std::vector<int64_t> shape,
                            const std::vector<double> &values) {
  return HostTensor::fromDoubles(dtype, std::move(shape), values);
}

inline double maxAbsDiff(const HostTensor &a, const HostTensor &b) {
  EXPECT_EQ(a.typeString(), b.typeString());
  auto x = a.toDoubles(), y = b.toDoubles();
  double diff = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i]))
      return INFINITY;
    if (!std::isnan(x[i]))
      diff = std::max(diff, std::abs(x[i] - y[i]));
  }
  return diff;
}

} // namespace kiln::testing

#endif // KILN_TESTS_CODEGEN_COMPILETESTUTIL_H
