//===- AdamW.cpp - AdamW, op for op as torch's _single_tensor_adam --------===//

#include "frontend/optim/AdamW.h"

#include <map>

#include "frontend/Ops.h"

namespace kiln::optim {

AdamW::AdamW(Graph &graph, std::vector<State> params, AdamWOptions options,
             SourceLoc loc)
    : Optimizer(graph, std::move(params), std::move(options), "AdamW", loc) {
  for (const State &p : group.params()) {
    if (!p.valid()) {
      expAvgs.emplace_back();
      expAvgSqs.emplace_back();
      continue;
    }
    DType dtype = updateDType(p.dtype());
    expAvgs.push_back(graph.state(p.name() + ".exp_avg", p.shape(), dtype,
                                  init::zeros(), StateKind::optimizer, loc));
    expAvgSqs.push_back(graph.state(p.name() + ".exp_avg_sq", p.shape(), dtype,
                                    init::zeros(), StateKind::optimizer, loc));
  }
}

namespace {
/// The per-step scalars of one update dtype.
struct StepScalars {
  Tensor decay, stepSize, bias2Sqrt;
};
} // namespace

void AdamW::step(Function &f, const std::vector<Tensor> &grads,
                 const Tensor &lr, SourceLoc loc) {
  if (!group.checkGrads(f, grads, loc) || !lr.valid())
    return;
  Tensor t = group.advanceStep(f, loc);

  // The scalars are computed in f64, as torch computes them in Python
  // floats: in f32, 1 - beta2^t loses ~1e-5 of relative accuracy to
  // cancellation (beta2 = 0.999 itself rounds by 1.3e-8). Each is rounded
  // once to the update dtype, as torch's kernels round a scalar operand.
  auto k64 = [&](double v) { return scalar(f, v, DType::f64, loc); };
  Tensor t64 = cast(t, DType::f64, loc);
  Tensor lr64 = lr.dtype() == DType::f64 ? lr : cast(lr, DType::f64, loc);
  Tensor bias1 = sub(k64(1), pow(k64(opts.beta1), t64, loc), loc);
  Tensor bias2 = sub(k64(1), pow(k64(opts.beta2), t64, loc), loc);
  Tensor stepSize64 = div(lr64, bias1, loc);
  Tensor bias2Sqrt64 = sqrt(bias2, loc);
  Tensor decay64 = sub(k64(1), mul(lr64, k64(opts.weightDecay), loc), loc);
  // Parameters of one update dtype share the rounded scalars.
  std::map<DType, StepScalars> scalars;
  auto scalarsFor = [&](DType dtype) -> const StepScalars & {
    auto [it, added] = scalars.try_emplace(dtype);
    if (added) {
      auto round = [&](const Tensor &x) {
        return dtype == DType::f64 ? x : cast(x, dtype, loc);
      };
      it->second = {round(decay64), round(stepSize64), round(bias2Sqrt64)};
    }
    return it->second;
  };

  for (size_t i = 0; i < group.size(); ++i) {
    DType dtype = group.dtype(i);
    auto k = [&](double v) { return scalar(f, v, dtype, loc); };
    const StepScalars &s = scalarsFor(dtype);
    Tensor g = group.grad(i, grads[i], loc);
    Tensor p = group.readWeight(f, i, loc);
    // Decoupled decay scales the weight before the Adam step reads it.
    if (opts.weightDecay != 0)
      p = mul(p, s.decay, loc);
    Tensor m = f.read(expAvgs[i], loc);
    Tensor v = f.read(expAvgSqs[i], loc);
    // torch's lerp(m, g, w) for w < 0.5 is m + w (g - m).
    m = add(m, mul(sub(g, m, loc), k(1 - opts.beta1), loc), loc);
    v = add(mul(v, k(opts.beta2), loc),
            mul(mul(g, g, loc), k(1 - opts.beta2), loc), loc);
    // eps is added after the bias correction of sqrt(v), as torch does.
    Tensor denom = add(div(sqrt(v, loc), s.bias2Sqrt, loc), k(opts.eps), loc);
    p = sub(p, mul(s.stepSize, div(m, denom, loc), loc), loc);
    f.update(expAvgs[i], m, loc);
    f.update(expAvgSqs[i], v, loc);
    group.writeWeight(f, i, p, loc);
  }
}

} // namespace kiln::optim
