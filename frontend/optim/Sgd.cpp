//===- Sgd.cpp - SGD, op for op as torch's _single_tensor_sgd -------------===//

#include "frontend/optim/Sgd.h"

#include "frontend/Ops.h"

namespace kiln::optim {

SGD::SGD(Graph &graph, std::vector<State> params, SgdOptions options,
         SourceLoc loc)
    : Optimizer(graph, std::move(params), std::move(options), "SGD", loc) {
  if (opts.nesterov && (opts.momentum <= 0 || opts.dampening != 0))
    detail::fail(graph,
                 "SGD: nesterov momentum requires a momentum and zero "
                 "dampening",
                 loc);
  for (const State &p : group.params()) {
    if (!p.valid() || opts.momentum == 0) {
      buffers.emplace_back();
      continue;
    }
    buffers.push_back(graph.state(p.name() + ".momentum_buffer", p.shape(),
                                  updateDType(p.dtype()), init::zeros(),
                                  StateKind::optimizer, loc));
  }
}

void SGD::step(Function &f, const std::vector<Tensor> &grads, const Tensor &lr,
               SourceLoc loc) {
  if (!group.checkGrads(f, grads, loc) || !lr.valid())
    return;
  Tensor t = group.advanceStep(f, loc);
  for (size_t i = 0; i < group.size(); ++i) {
    DType dtype = group.dtype(i);
    auto k = [&](double v) { return scalar(f, v, dtype, loc); };
    Tensor g = group.grad(i, grads[i], loc);
    Tensor p = group.readWeight(f, i, loc);
    if (opts.weightDecay != 0)
      g = add(g, mul(p, k(opts.weightDecay), loc), loc);
    if (opts.momentum != 0) {
      Tensor buf = mul(f.read(buffers[i], loc), k(opts.momentum), loc);
      buf =
          add(buf, opts.dampening == 0 ? g : mul(g, k(1 - opts.dampening), loc),
              loc);
      // torch starts the buffer as a copy of g; from zeros that only differs
      // when the first gradient is damped.
      if (opts.dampening != 0)
        buf = select(equal(t, 1, loc), g, buf, loc);
      f.update(buffers[i], buf, loc);
      g = opts.nesterov ? add(g, mul(buf, k(opts.momentum), loc), loc) : buf;
    }
    Tensor lrd = lr.dtype() == dtype ? lr : cast(lr, dtype, loc);
    group.writeWeight(f, i, sub(p, mul(g, lrd, loc), loc), loc);
  }
}

} // namespace kiln::optim
