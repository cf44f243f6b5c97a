//===- Optimizer.h - what AdamW and SGD share -------------------*- C++ -*-===//
//
// The options, the ParamGroup and the accessors of an optimizer, and its step
// with a constant learning rate: all that does not depend on the update rule.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_OPTIMIZER_H
#define KILN_FRONTEND_OPTIM_OPTIMIZER_H

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "frontend/Ops.h"
#include "frontend/optim/ParamGroup.h"

namespace kiln::optim {

/// The base of an optimizer `Derived` configured by `Options` (which has a
/// `stepName`). `Derived` declares the update rule as
///   void step(Function &, const std::vector<Tensor> &grads,
///             const Tensor &lr, SourceLoc);
/// and `using Optimizer::step;` so that the double overload stays visible.
template <typename Derived, typename Options> class Optimizer {
public:
  /// Emits the update with a constant `lr`, made an f64 scalar so that it is
  /// used unrounded, like torch's Python float (an f64 parameter sees it
  /// exactly).
  void step(Function &f, const std::vector<Tensor> &grads, double lr,
            SourceLoc loc = SourceLoc::current()) {
    static_cast<Derived &>(*this).step(f, grads, scalar(f, lr, DType::f64, loc),
                                       loc);
  }

  /// Adds master <- cast(param) to `f`, for callers that want it in an entry
  /// of their own besides kInitMasterEntry.
  void initMasterFromParams(Function &f,
                            SourceLoc loc = SourceLoc::current()) const {
    group.initMasterFromParams(f, loc);
  }

  const std::vector<State> &params() const { return group.params(); }
  const std::optional<State> &master(size_t i) const { return group.master(i); }
  bool hasMasterWeights() const { return group.hasMasters(); }
  /// The i64 count of completed steps; read it for a schedule's step.
  const State &stepState() const { return group.stepState(); }
  const Options &options() const { return opts; }

protected:
  /// `what` names the optimizer in error messages ("AdamW").
  Optimizer(Graph &graph, std::vector<State> params, Options options,
            std::string what, SourceLoc loc)
      : opts(std::move(options)),
        group(graph, std::move(params), std::move(what), opts.stepName, loc) {}

  Options opts;
  ParamGroup group;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_OPTIMIZER_H
