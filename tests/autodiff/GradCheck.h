//===- GradCheck.h - finite-difference checks of kiln gradients -*- C++ -*-===//
//
// Builds, from one op body, a module with a scalar loss entry @f and an entry @df
// that also returns kiln.grad of that loss with respect to every float argument,
// then compares the analytic gradients with central differences of @f in f64.
// The loss is sum(out * r) with fixed random r, so every output element counts.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_TESTS_AUTODIFF_GRADCHECK_H
#define KILN_TESTS_AUTODIFF_GRADCHECK_H

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "gtest/gtest.h"

namespace kiln::testing {

struct GradInput {
  enum Kind { Normal, Positive, Values } kind = Normal;
  proto::DType dtype = proto::F64;
  std::vector<int64_t> shape;
  std::vector<double> values; // for Values
  /// Spelled in the signature, e.g. "tensor<3x4xf64>".
  std::string type;
};

inline GradInput normal(std::string type, std::vector<int64_t> shape) {
  return {GradInput::Normal, proto::F64, std::move(shape), {}, std::move(type)};
}
inline GradInput positive(std::string type, std::vector<int64_t> shape) {
  return {GradInput::Positive, proto::F64, std::move(shape), {}, std::move(type)};
}
/// A fixed (usually integer) input: indices, lengths, offsets.
inline GradInput fixed(std::string type, proto::DType dtype, std::vector<int64_t> shape,
                       std::vector<double> values) {
  return {GradInput::Values, dtype, std::move(shape), std::move(values), std::move(type)};
}

struct GradCase {
  std::string name;
  std::vector<GradInput> inputs; // arguments %a0, %a1, ... in order
  std::string body;              // ops reading %a0.. and defining %out
  std::string outType;           // type of %out, an f64 tensor
  std::vector<int64_t> outShape;
  double tolerance = 1e-6;
};

inline std::string gradModule(const GradCase &c, const std::vector<double> &weights) {
  std::ostringstream sig, wrt, wrtTypes, gradTypes, gradNames;
  std::vector<int> floatArgs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    sig << (i ? ", " : "") << "%a" << i << ": " << c.inputs[i].type;
    if (c.inputs[i].dtype == proto::F64)
      floatArgs.push_back(i);
  }
  for (size_t k = 0; k < floatArgs.size(); ++k) {
    wrt << ", %a" << floatArgs[k];
    wrtTypes << ", " << c.inputs[floatArgs[k]].type;
    gradTypes << ", " << c.inputs[floatArgs[k]].type;
    gradNames << ", %g#" << k;
  }
  std::ostringstream lit;
  lit.precision(17);
  lit << "dense<[";
  for (size_t i = 0; i < weights.size(); ++i)
    lit << (i ? ", " : "") << weights[i];
  lit << "]> : tensor<" << weights.size() << "xf64>";
  std::ostringstream allAxes;
  for (size_t i = 0; i < c.outShape.size(); ++i)
    allAxes << (i ? ", " : "") << i;
  std::string loss =
      "  %r0 = kiln.constant {value = " + lit.str() + "} : () -> tensor<" +
      std::to_string(weights.size()) + "xf64>\n"
      "  %r = kiln.reshape %r0 {shape = array<i64" +
      (c.outShape.empty() ? std::string() : ": " + [&] {
        std::ostringstream s;
        for (size_t i = 0; i < c.outShape.size(); ++i)
          s << (i ? ", " : "") << c.outShape[i];
        return s.str();
      }()) + ">} : (tensor<" + std::to_string(weights.size()) + "xf64>) -> " +
      c.outType + "\n"
      "  %p = kiln.mul %out, %r : (" + c.outType + ", " + c.outType + ") -> " +
      c.outType + "\n"
      "  %loss = kiln.sum %p {axes = array<i64" +
      (c.outShape.empty() ? std::string() : ": " + allAxes.str()) +
      ">, keepdims = false} : (" + c.outType + ") -> tensor<f64>\n";
  std::ostringstream m;
  m << "func.func @f(" << sig.str() << ") -> tensor<f64> {\n"
    << c.body << "\n" << loss << "  return %loss : tensor<f64>\n}\n";
  m << "func.func @df(" << sig.str() << ") -> (tensor<f64>" << gradTypes.str()
    << ") {\n" << c.body << "\n" << loss;
  if (!floatArgs.empty())
    m << "  %g:" << floatArgs.size() << " = kiln.grad %loss" << wrt.str()
      << " : (tensor<f64>" << wrtTypes.str() << ") -> (" << gradTypes.str().substr(2)
      << ")\n";
  m << "  return %loss" << gradNames.str() << " : tensor<f64>" << gradTypes.str()
    << "\n}\n";
  return m.str();
}

/// Runs the check; failures are reported through gtest.
inline void checkGradients(const GradCase &c, uint64_t seed = 7) {
  SCOPED_TRACE(c.name);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normalDist;
  int64_t outElements = 1;
  for (int64_t d : c.outShape)
    outElements *= d;
  std::vector<double> weights(outElements);
  for (double &w : weights)
    w = normalDist(rng);
  std::string text = gradModule(c, weights);
  auto module = IrModule::parse(text, c.name + ".mlir");
  ASSERT_TRUE(module.ok()) << module.status() << "\n" << text;
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status() << "\n" << text;
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();

  std::vector<HostTensor> inputs;
  for (const GradInput &in : c.inputs) {
    int64_t n = 1;
    for (int64_t d : in.shape)
      n *= d;
    std::vector<double> values = in.values;
    if (in.kind != GradInput::Values) {
      values.resize(n);
      for (double &v : values) {
        v = normalDist(rng);
        if (in.kind == GradInput::Positive)
          v = std::abs(v) + 0.5;
      }
    }
    inputs.push_back(HostTensor::fromDoubles(in.dtype, in.shape, values));
  }
  auto analytic = (*executor)->run("df", inputs);
  ASSERT_TRUE(analytic.ok()) << analytic.status();
  auto lossAt = [&](const std::vector<HostTensor> &args) {
    auto r = (*executor)->run("f", args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0].toDoubles()[0] : NAN;
  };
  EXPECT_NEAR((*analytic)[0].toDoubles()[0], lossAt(inputs), 1e-12);

  int gradIndex = 1;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].dtype != proto::F64)
      continue;
    std::vector<double> g = (*analytic)[gradIndex++].toDoubles();
    std::vector<double> base = inputs[i].toDoubles();
    // Check at most 48 elements per argument, spread over the tensor.
    int64_t n = base.size(), step = std::max<int64_t>(1, n / 48);
    for (int64_t e = 0; e < n; e += step) {
      const double h = 1e-6;
      std::vector<HostTensor> plus = inputs, minus = inputs;
      std::vector<double> vp = base, vm = base;
      vp[e] += h;
      vm[e] -= h;
      plus[i] = HostTensor::fromDoubles(proto::F64, c.inputs[i].shape, vp);
      minus[i] = HostTensor::fromDoubles(proto::F64, c.inputs[i].shape, vm);
      double numeric = (lossAt(plus) - lossAt(minus)) / (2 * h);
      EXPECT_NEAR(g[e], numeric, c.tolerance * std::max(1.0, std::abs(numeric)))
          << c.name << ": d loss / d a" << i << "[" << e << "]";
    }
  }
}

} // namespace kiln::testing

#endif // KILN_TESTS_AUTODIFF_GRADCHECK_H
