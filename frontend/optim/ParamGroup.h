//===- ParamGroup.h - what every optimizer shares ---------------*- C++ -*-===//
//
// The parameter list, f32 master copies of low-precision parameters, and the
// step counter, all declared as StateKind::optimizer state of the graph.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_OPTIM_PARAMGROUP_H
#define KILN_FRONTEND_OPTIM_PARAMGROUP_H

#include <optional>
#include <string>
#include <vector>

#include "frontend/Graph.h"

namespace kiln::optim {

/// The entry that copies cast(param, f32) into every `<param>.master`. Callers
/// run it once after the parameters hold their values (after
/// Executor::initializeState, and again after loading a checkpoint that has no
/// master weights); until then the masters are zeros.
inline constexpr const char *kInitMasterEntry = "optim.init_master";
/// The default name of the step counter: an i64 scalar, the number of
/// optimizer steps completed (0 before the first).
inline constexpr const char *kStepStateName = "optim.step";

/// True for the dtypes whose parameters get an f32 master copy: f16, bf16 and
/// the f8 types, where small updates would round away.
bool needsMasterWeights(DType dtype);
/// The dtype the update math and the moments use for a parameter of `dtype`:
/// f64 for f64, f32 otherwise.
DType updateDType(DType dtype);

namespace detail {
/// Record `message` as the graph's sticky error at `loc`. The frontend has no
/// public error entry point, so these provoke a failing declaration whose
/// message quotes `message` (a bad state init, a repeated input name).
void fail(Graph &graph, const std::string &message, SourceLoc loc);
void fail(Function &f, const std::string &message, SourceLoc loc);
} // namespace detail

/// Parameters, their masters and the step counter of one optimizer.
class ParamGroup {
public:
  /// `what` names the optimizer in error messages ("AdamW"). When a parameter
  /// needs a master, also declares the kInitMasterEntry entry. No reference to
  /// `graph` is kept (a Graph may be moved after its optimizer is declared).
  ParamGroup(Graph &graph, std::vector<State> params, std::string what,
             const std::string &stepName, SourceLoc loc);

  size_t size() const { return paramStates.size(); }
  const std::vector<State> &params() const { return paramStates; }
  /// The f32 master of parameter i, when its dtype needs one.
  const std::optional<State> &master(size_t i) const { return masters[i]; }
  bool hasMasters() const;
  const State &stepState() const { return step; }
  /// updateDType of parameter i.
  DType dtype(size_t i) const { return updateDType(paramStates[i].dtype()); }

  /// Adds master <- cast(param, f32) for every master to `f` (the
  /// constructor does so in kInitMasterEntry).
  void initMasterFromParams(Function &f, SourceLoc loc) const;

  /// False (with the sticky error recorded) unless there is one valid gradient
  /// per parameter.
  bool checkGrads(Function &f, const std::vector<Tensor> &grads,
                  SourceLoc loc) const;
  /// Gradient i in dtype(i).
  Tensor grad(size_t i, const Tensor &g, SourceLoc loc) const;
  /// Weight i in dtype(i): the master when there is one, else the parameter.
  Tensor readWeight(Function &f, size_t i, SourceLoc loc) const;
  /// Stores the new weight (dtype(i)) into the master, if any, and its cast
  /// into the parameter.
  void writeWeight(Function &f, size_t i, const Tensor &w, SourceLoc loc) const;
  /// Reads the counter, stores it plus one, and returns the new count (i64):
  /// the 1-based number of the step being taken, as PyTorch's `step`.
  Tensor advanceStep(Function &f, SourceLoc loc) const;

private:
  std::string what;
  std::vector<State> paramStates;
  std::vector<std::optional<State>> masters;
  State step;
};

} // namespace kiln::optim

#endif // KILN_FRONTEND_OPTIM_PARAMGROUP_H
