//===- ParamGroup.cpp - parameters, master weights and the step counter ---===//

#include "frontend/optim/ParamGroup.h"

#include <string>

#include "frontend/Ops.h"

namespace kiln::optim {

bool needsMasterWeights(DType dtype) {
  return dtype == DType::f16 || dtype == DType::bf16 ||
         dtype == DType::f8e4m3fn || dtype == DType::f8e5m2;
}

DType updateDType(DType dtype) {
  return dtype == DType::f64 ? DType::f64 : DType::f32;
}

namespace detail {

void fail(Graph &graph, const std::string &message, SourceLoc loc) {
  if (!graph.status().ok())
    return;
  // A negative stddev is rejected with a message that quotes the state name.
  graph.state(message, {}, DType::f32, init::normal(-1), StateKind::other, loc);
}

void fail(Function &f, const std::string &message, SourceLoc loc) {
  // "AdamW: 1 gradients for 2 parameters": the optimizer names itself.
  size_t colon = message.find(": ");
  if (colon == std::string::npos)
    f.fail("optimizer", message, loc);
  else
    f.fail(message.substr(0, colon), message.substr(colon + 2), loc);
}

} // namespace detail

ParamGroup::ParamGroup(Graph &graph, std::vector<State> params,
                       std::string what, const std::string &stepName,
                       SourceLoc loc)
    : what(std::move(what)), paramStates(std::move(params)) {
  for (size_t i = 0; i < paramStates.size(); ++i) {
    const State &p = paramStates[i];
    if (!p.valid()) {
      detail::fail(graph,
                   this->what + ": parameter " + std::to_string(i) +
                       " is an invalid State",
                   loc);
      masters.emplace_back();
      continue;
    }
    if (!isFloat(p.dtype()))
      detail::fail(graph,
                   this->what + ": parameter '" + p.name() + "' is " +
                       dtypeName(p.dtype()) + "; only float state trains",
                   loc);
    if (needsMasterWeights(p.dtype()))
      masters.push_back(graph.state(p.name() + ".master", p.shape(), DType::f32,
                                    init::zeros(), StateKind::optimizer, loc));
    else
      masters.emplace_back();
  }
  step = graph.state(stepName, {}, DType::i64, init::zeros(),
                     StateKind::optimizer, loc);
  // Declared here rather than on request so that a model with low-precision
  // parameters always carries the entry its masters depend on.
  if (hasMasters())
    initMasterFromParams(graph.function(kInitMasterEntry, loc), loc);
}

bool ParamGroup::hasMasters() const {
  for (const auto &m : masters)
    if (m)
      return true;
  return false;
}

void ParamGroup::initMasterFromParams(Function &f, SourceLoc loc) const {
  for (size_t i = 0; i < paramStates.size(); ++i)
    if (masters[i])
      f.update(*masters[i], cast(f.read(paramStates[i], loc), DType::f32, loc),
               loc);
}

bool ParamGroup::checkGrads(Function &f, const std::vector<Tensor> &grads,
                            SourceLoc loc) const {
  if (grads.size() != paramStates.size()) {
    detail::fail(f,
                 what + ": " + std::to_string(grads.size()) +
                     " gradients for " + std::to_string(paramStates.size()) +
                     " parameters",
                 loc);
    return false;
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].valid())
      return false; // The graph already holds the error that made it.
    if (grads[i].shape() != paramStates[i].shape()) {
      detail::fail(f,
                   what + ": the gradient of '" + paramStates[i].name() +
                       "' has another shape than the parameter",
                   loc);
      return false;
    }
  }
  return true;
}

Tensor ParamGroup::grad(size_t i, const Tensor &g, SourceLoc loc) const {
  return g.dtype() == dtype(i) ? g : cast(g, dtype(i), loc);
}

Tensor ParamGroup::readWeight(Function &f, size_t i, SourceLoc loc) const {
  return masters[i] ? f.read(*masters[i], loc) : f.read(paramStates[i], loc);
}

void ParamGroup::writeWeight(Function &f, size_t i, const Tensor &w,
                             SourceLoc loc) const {
  if (!masters[i]) {
    f.update(paramStates[i], w, loc);
    return;
  }
  f.update(*masters[i], w, loc);
  f.update(paramStates[i], cast(w, paramStates[i].dtype(), loc), loc);
}

Tensor ParamGroup::advanceStep(Function &f, SourceLoc loc) const {
  Tensor t = f.read(step, loc) + ScalarArg(1, loc);
  f.update(step, t, loc);
  return t;
}

} // namespace kiln::optim
