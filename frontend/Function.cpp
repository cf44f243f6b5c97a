//===- Function.cpp - entry points: inputs, state reads, outputs, updates -===//
//
// The arguments and results of an entry are collected in call order and only
// become the func.func signature in build(), since reads and inputs interleave.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"

#include "absl/strings/str_cat.h"

namespace kiln {
namespace detail {

Function &GraphImpl::function(const std::string &name, const SourceLoc &loc) {
  for (auto &info : functions)
    if (info->name == name)
      return *info->handle;
  auto info = std::make_unique<FunctionInfo>();
  info->name = name;
  info->handle.reset(new Function(this, static_cast<int>(functions.size())));
  if (name.empty())
    fail(loc, "Graph::function", "an entry function needs a name");
  // After build() there is no module to hold the func; every use of the handle
  // then records that the graph was built.
  if (module) {
    info->func = mlir::func::FuncOp::create(
        location(loc), name, mlir::FunctionType::get(ctx, {}, {}));
    info->func.addEntryBlock();
    module->module().push_back(info->func);
  }
  functions.push_back(std::move(info));
  return *functions.back()->handle;
}

std::vector<State> GraphImpl::statesOfKind(std::optional<StateKind> kind) {
  std::vector<State> out;
  for (size_t i = 0; i < states.size(); ++i)
    if (!kind || states[i].kind == *kind)
      out.push_back(State(this, static_cast<int64_t>(i)));
  return out;
}

void GraphImpl::shardOverExperts(const State &state, const SourceLoc &loc) {
  const std::string what = "Graph::shardOverExperts";
  if (failed() || !open(loc, what))
    return;
  if (!state.valid() || state.graph != this)
    return fail(loc, what, "needs a state entry of this graph");
  StateInfo &info = states[state.index];
  // A parameter's optimizer moments and copies (kind optimizer or other)
  // are cut with it; caches belong to no expert.
  if (info.kind == StateKind::cache || info.shape.empty())
    return fail(loc, what,
                absl::StrCat("'", info.name,
                             "' must be a parameter [E, ...] (or its "
                             "optimizer state or copy) to shard over its "
                             "experts"));
  info.sharding = "experts";
}

State GraphImpl::addState(std::string name, Shape shape, DType dtype, Init init,
                          StateKind kind, const SourceLoc &loc) {
  const std::string what = "Graph::state";
  if (failed() || !open(loc, what))
    return State(this, -1);
  std::string bad = checkShape(shape);
  if (name.empty())
    bad = "a state entry needs a name";
  else if (stateByName.count(name))
    bad = absl::StrCat("state '", name, "' is already declared as ",
                       typeString(states[stateByName[name]].shape,
                                  states[stateByName[name]].dtype));
  else if (init.kind == Init::Kind::uniform && init.a > init.b)
    bad = absl::StrCat("uniform init of '", name, "' has low ", init.a,
                       " > high ", init.b);
  else if ((init.kind == Init::Kind::normal ||
            init.kind == Init::Kind::truncatedNormal) &&
           init.a < 0)
    bad = absl::StrCat("init of '", name, "' has a negative stddev ", init.a);
  if (!bad.empty()) {
    fail(loc, what, bad);
    return State(this, -1);
  }
  stateByName[name] = states.size();
  states.push_back({std::move(name), std::move(shape), dtype, init, kind});
  return State(this, static_cast<int64_t>(states.size()) - 1);
}

mlir::Value GraphImpl::argument(int function, mlir::Type type,
                                mlir::Location loc) {
  return functions[function]->func.getBody().front().addArgument(type, loc);
}

/// Records why `state` cannot be used here, if it cannot.
static bool checkState(GraphImpl &graph, const State &state,
                       const SourceLoc &loc, const std::string &what) {
  GraphImpl *owner = GraphImpl::of(state);
  if (!owner || GraphImpl::indexOf(state) < 0) {
    graph.fail(loc, what,
               "invalid State (default-constructed or failed declaration)");
    return false;
  }
  if (owner != &graph) {
    graph.fail(loc, what,
               absl::StrCat("state '", state.name(), "' belongs to graph '",
                            owner->name(), "', not '", graph.name(), "'"));
    return false;
  }
  return true;
}

/// Records why `value` cannot be a result of `function`, if it cannot.
static bool checkResult(GraphImpl &graph, int function, const Tensor &value,
                        const SourceLoc &loc, const std::string &what) {
  Function &fn = *graph.functionHandle(function);
  int resolved;
  const Tensor *operands[] = {&value};
  // Reuses the operand checks: same graph, valid, same function.
  return GraphImpl::resolve(what, loc, operands, &fn, resolved) != nullptr;
}

Tensor GraphImpl::input(int function, std::string name, Shape shape,
                        DType dtype, const SourceLoc &loc) {
  const std::string what = "Function::input";
  if (failed() || !open(loc, what))
    return invalid(this);
  FunctionInfo &info = *functions[function];
  std::string bad = checkShape(shape); // a bad shape is reported first
  if (bad.empty() && name.empty())
    bad = "an input needs a name";
  else if (bad.empty() && info.inputNames.count(name))
    bad = absl::StrCat("function '", info.name,
                       "' already has an input named '", name, "'");
  if (!bad.empty()) {
    fail(loc, what, bad);
    return invalid(this);
  }
  mlir::Value arg = argument(
      function, mlir::RankedTensorType::get(shape, detail::toMlir(*ctx, dtype)),
      location(loc));
  info.inputNames.insert(name);
  info.args.push_back({false, std::move(name)});
  return addValue(arg, function);
}

Tensor GraphImpl::read(int function, const State &state, const SourceLoc &loc) {
  const std::string what = "Function::read";
  if (failed() || !open(loc, what) || !checkState(*this, state, loc, what))
    return invalid(this);
  FunctionInfo &info = *functions[function];
  int64_t index = indexOf(state);
  if (auto it = info.substitutes.find(index); it != info.substitutes.end())
    return Tensor(this, it->second);
  if (auto it = info.stateArgs.find(index); it != info.stateArgs.end())
    return Tensor(this, it->second);
  const StateInfo &s = states[index];
  mlir::Value arg = argument(
      function,
      mlir::RankedTensorType::get(s.shape, detail::toMlir(*ctx, s.dtype)),
      location(loc));
  info.args.push_back({true, s.name});
  Tensor result = addValue(arg, function);
  info.stateArgs[index] = result.id;
  return result;
}

void GraphImpl::output(int function, std::string name, const Tensor &value,
                       const SourceLoc &loc) {
  const std::string what = "Function::output";
  if (failed() || !open(loc, what) ||
      !checkResult(*this, function, value, loc, what))
    return;
  FunctionInfo &info = *functions[function];
  if (name.empty() || info.outputNames.count(name)) {
    fail(loc, what,
         name.empty()
             ? std::string("an output needs a name")
             : absl::StrCat("function '", info.name,
                            "' already has an output named '", name, "'"));
    return;
  }
  info.outputNames.insert(name);
  info.results.push_back({false, std::move(name), value.id, loc});
}

void GraphImpl::update(int function, const State &state, const Tensor &value,
                       const SourceLoc &loc) {
  const std::string what = "Function::update";
  if (failed() || !open(loc, what) || !checkState(*this, state, loc, what) ||
      !checkResult(*this, function, value, loc, what))
    return;
  FunctionInfo &info = *functions[function];
  const StateInfo &s = states[indexOf(state)];
  const ValueInfo &v = values[value.id];
  if (v.shape != s.shape || v.dtype != s.dtype) {
    fail(loc, what,
         absl::StrCat("state '", s.name, "' is ", typeString(s.shape, s.dtype),
                      " but the new value is ", typeString(v.shape, v.dtype)));
    return;
  }
  if (info.updatedStates.count(s.name)) {
    fail(loc, what,
         absl::StrCat("function '", info.name, "' already updates state '",
                      s.name, "'"));
    return;
  }
  // A substituted state has no argument to donate its buffer through.
  if (info.substitutes.count(indexOf(state))) {
    fail(loc, what,
         absl::StrCat("function '", info.name, "' substitutes state '", s.name,
                      "', so it cannot also update it"));
    return;
  }
  info.updatedStates.insert(s.name);
  info.results.push_back({true, s.name, value.id, loc});
}

void GraphImpl::substitute(int function, const State &state,
                           const Tensor &value, const SourceLoc &loc) {
  const std::string what = "Function::substitute";
  if (failed() || !open(loc, what) || !checkState(*this, state, loc, what) ||
      !checkResult(*this, function, value, loc, what))
    return;
  FunctionInfo &info = *functions[function];
  int64_t index = indexOf(state);
  const StateInfo &s = states[index];
  const ValueInfo &v = values[value.id];
  std::string bad;
  if (v.shape != s.shape || v.dtype != s.dtype)
    bad = absl::StrCat("state '", s.name, "' is ", typeString(s.shape, s.dtype),
                       " but its substitute is ", typeString(v.shape, v.dtype));
  else if (info.stateArgs.count(index) || info.updatedStates.count(s.name) ||
           info.substitutes.count(index))
    bad = absl::StrCat("function '", info.name, "' already reads, updates or ",
                       "substitutes state '", s.name,
                       "'; substitute it before any use");
  if (!bad.empty()) {
    fail(loc, what, bad);
    return;
  }
  info.substitutes[index] = value.id;
}

} // namespace detail

//===--- The public handle
//--------------------------------------------------===//

const std::string &Function::name() const {
  return graph->functionInfo(index).name;
}

void Function::fail(const std::string &what, const std::string &message,
                    SourceLoc loc) {
  graph->fail(loc, what, message);
}

Tensor Function::input(std::string name, Shape shape, DType dtype,
                       SourceLoc loc) {
  return graph->input(index, std::move(name), std::move(shape), dtype, loc);
}

Tensor Function::read(const State &state, SourceLoc loc) {
  return graph->read(index, state, loc);
}

void Function::output(std::string name, const Tensor &value, SourceLoc loc) {
  graph->output(index, std::move(name), value, loc);
}

void Function::update(const State &state, const Tensor &newValue,
                      SourceLoc loc) {
  graph->update(index, state, newValue, loc);
}

void Function::substitute(const State &state, const Tensor &value,
                          SourceLoc loc) {
  graph->substitute(index, state, value, loc);
}

} // namespace kiln
