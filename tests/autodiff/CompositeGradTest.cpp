//===- CompositeGradTest.cpp - finite differences through whole blocks -----===//
//
// Gradients of composite graphs written in the frontend — an MLP with softmax
// cross-entropy, a pre-norm attention block with rotary positions, and a
// dropless MoE block with sigmoid top-k routing through grouped_matmul — checked
// against central differences in f64.
//
//===----------------------------------------------------------------------===//

#include <cmath>
#include <functional>
#include <random>

#include "codegen/Compile.h"
#include "executor/Executor.h"
#include "frontend/Kiln.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

struct Input {
  Shape shape;
  DType dtype = DType::f64;
  std::vector<double> values; // fixed values (integer inputs); random otherwise
};

using Body = std::function<Tensor(Function &, const std::vector<Tensor> &)>;

proto::DType toProto(DType dtype) {
  return dtype == DType::f64 ? proto::F64 : proto::I64;
}

/// Builds entries "f" (the loss) and "df" (loss and gradients with respect to
/// every f64 input), then compares "df" with central differences of "f".
void checkComposite(const std::string &name, const std::vector<Input> &inputs,
                    const Body &body, double tolerance = 1e-6) {
  SCOPED_TRACE(name);
  Graph graph(name);
  for (const char *entry : {"f", "df"}) {
    Function &fn = graph.function(entry);
    std::vector<Tensor> args, wrt;
    for (size_t i = 0; i < inputs.size(); ++i) {
      args.push_back(fn.input("a" + std::to_string(i), inputs[i].shape, inputs[i].dtype));
      if (inputs[i].dtype == DType::f64)
        wrt.push_back(args.back());
    }
    Tensor loss = body(fn, args);
    fn.output("loss", loss);
    if (std::string(entry) == "df") {
      std::vector<Tensor> grads = grad(loss, wrt);
      for (size_t i = 0; i < grads.size(); ++i)
        fn.output("g" + std::to_string(i), grads[i]);
    }
  }
  auto module = graph.build();
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = codegen::compile(*module);
  ASSERT_TRUE(exe.ok()) << exe.status();
  auto executor = Executor::create(*exe);
  ASSERT_TRUE(executor.ok()) << executor.status();

  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 0.7);
  std::vector<HostTensor> values;
  for (const Input &in : inputs) {
    int64_t n = 1;
    for (int64_t d : in.shape)
      n *= d;
    std::vector<double> v = in.values;
    if (v.empty()) {
      v.resize(n);
      for (double &x : v)
        x = normal(rng);
    }
    values.push_back(HostTensor::fromDoubles(toProto(in.dtype), in.shape, v));
  }
  auto analytic = (*executor)->run("df", values);
  ASSERT_TRUE(analytic.ok()) << analytic.status();
  auto lossAt = [&](const std::vector<HostTensor> &args) {
    auto r = (*executor)->run("f", args);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? (*r)[0].toDoubles()[0] : NAN;
  };
  int g = 1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype != DType::f64)
      continue;
    std::vector<double> grads = (*analytic)[g++].toDoubles();
    std::vector<double> base = values[i].toDoubles();
    int64_t step = std::max<int64_t>(1, static_cast<int64_t>(base.size()) / 24);
    for (size_t e = 0; e < base.size(); e += step) {
      const double h = 1e-6;
      auto shifted = [&](double delta) {
        std::vector<HostTensor> args = values;
        std::vector<double> v = base;
        v[e] += delta;
        args[i] = HostTensor::fromDoubles(proto::F64, inputs[i].shape, v);
        return lossAt(args);
      };
      double numeric = (shifted(h) - shifted(-h)) / (2 * h);
      EXPECT_NEAR(grads[e], numeric, tolerance * std::max(1.0, std::abs(numeric)))
          << name << ": input " << i << " element " << e;
    }
  }
}

TEST(CompositeGrad, MlpWithCrossEntropy) {
  checkComposite(
      "mlp",
      {{{4, 6}}, {{8, 6}}, {{8}}, {{3, 8}}, {{4}, DType::i64, {0, 2, 1, 2}}},
      [](Function &, const std::vector<Tensor> &a) {
        Tensor h = gelu(matmul(a[0], a[1], false, true) + a[2]);
        Tensor logits = matmul(h, a[3], false, true);
        return mean(crossEntropy(logits, a[4]), {0});
      });
}

TEST(CompositeGrad, AttentionBlock) {
  const int64_t b = 2, s = 5, d = 8, heads = 2, dh = 4;
  checkComposite(
      "attention_block",
      {{{b, s, d}}, {{d}}, {{d, d}}, {{d, d}}, {{d, d}}, {{d, d}}, {{b, s, d}}},
      [&](Function &fn, const std::vector<Tensor> &a) {
        std::vector<double> cosTable, sinTable;
        for (int64_t p = 0; p < s; ++p)
          for (int64_t i = 0; i < dh / 2; ++i) {
            cosTable.push_back(std::cos(p * std::pow(100.0, -2.0 * i / dh)));
            sinTable.push_back(std::sin(p * std::pow(100.0, -2.0 * i / dh)));
          }
        Tensor cos = constant(fn, cosTable, {s, dh / 2}, DType::f64);
        Tensor sin = constant(fn, sinTable, {s, dh / 2}, DType::f64);
        auto split = [&](const Tensor &t) {
          return transpose(reshape(t, {b, s, heads, dh}), {0, 2, 1, 3});
        };
        Tensor h = rmsNorm(a[0], a[1]);
        Tensor q = rotary(split(matmul(h, a[2], false, true)), cos, sin);
        Tensor k = rotary(split(matmul(h, a[3], false, true)), cos, sin, true);
        Tensor v = split(matmul(h, a[4], false, true));
        AttentionOptions options;
        options.causal = true;
        Tensor o = reshape(transpose(attention(q, k, v, options), {0, 2, 1, 3}), {b, s, d});
        Tensor y = a[0] + matmul(o, a[5], false, true);
        return sum(y * a[6], {0, 1, 2});
      });
}

TEST(CompositeGrad, DroplessMoeBlockWithTopKRouting) {
  const int64_t t = 6, d = 4, e = 4, hidden = 5, k = 2;
  checkComposite(
      "moe_block",
      {{{t, d}}, {{e, d}}, {{e, d, hidden}}, {{e, hidden, d}}, {{t, d}}},
      [&](Function &fn, const std::vector<Tensor> &a) {
        const Tensor &x = a[0];
        Tensor scores = sigmoid(matmul(x, a[1], false, true)); // [T, E]
        auto [topScores, topExperts] = topk(scores, k);        // [T, k]
        Tensor gates = topScores / sum(topScores, {1}, true);   // norm_topk_prob
        // Sort the T*k token-expert pairs by expert (stable), as dropless MoE does.
        Tensor experts = reshape(topExperts, {t * k});
        Tensor order = argsort(experts, 0);
        Tensor token = div(order, scalar(fn, k, DType::i64));
        Tensor offsets = cumsum(bincount(experts, e), 0);
        Tensor rows = gather(x, token, 0); // [T*k, D]
        Tensor hiddenAct = silu(groupedMatmul(rows, a[2], offsets));
        Tensor out = groupedMatmul(hiddenAct, a[3], offsets); // [T*k, D]
        Tensor pairGate = gather(reshape(gates, {t * k}), order, 0);
        Tensor weighted = out * reshape(pairGate, {t * k, 1});
        Tensor combined = scatterAdd(zeros(fn, {t, d}, DType::f64), token, weighted, 0);
        return sum(combined * a[4], {0, 1});
      });
}

} // namespace
} // namespace kiln
