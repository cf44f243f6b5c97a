//===- Graph.h - a kiln program under construction --------------*- C++ -*-===//
//
// A Graph holds named state (parameters, optimizer moments, caches) and entry
// functions that read and update it; build() yields the verified kiln module.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_FRONTEND_GRAPH_H
#define KILN_FRONTEND_GRAPH_H

#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "frontend/Init.h"
#include "frontend/Tensor.h"
#include "ir/IrModule.h"

namespace kiln {

enum class StateKind { parameter, optimizer, cache, other };
/// "parameter", "optimizer", "cache", "other".
const char *stateKindName(StateKind kind);

/// A handle to one named state entry of a graph. Copyable; invalid after a
/// failed declaration.
class State {
public:
  State() = default;
  bool valid() const { return graph != nullptr && index >= 0; }
  /// Empty / f32 / parameter for an invalid state.
  const std::string &name() const;
  Shape shape() const;
  DType dtype() const;
  StateKind kind() const;

private:
  friend class detail::GraphImpl;
  State(detail::GraphImpl *graph, int64_t index) : graph(graph), index(index) {}
  detail::GraphImpl *graph = nullptr;
  int64_t index = -1;
};

/// One entry point (a public func.func). Owned by its Graph; obtain it with
/// Graph::function.
class Function {
public:
  Function(const Function &) = delete;
  Function &operator=(const Function &) = delete;

  const std::string &name() const;

  /// A caller-provided argument (`kiln.name` = name).
  Tensor input(std::string name, Shape shape, DType dtype,
               SourceLoc loc = SourceLoc::current());
  /// Records a sticky error "file:line: what: message" for code built on the
  /// frontend (optimizers, layers) that finds a misuse no op would.
  void fail(const std::string &what, const std::string &message,
            SourceLoc loc = SourceLoc::current());
  /// The state as an argument of this entry (`kiln.state` = its name); repeated
  /// reads return the same value.
  Tensor read(const State &state, SourceLoc loc = SourceLoc::current());
  /// A named result (`kiln.name` = name).
  void output(std::string name, const Tensor &value,
              SourceLoc loc = SourceLoc::current());
  /// A result that replaces the state after the call (donated: the executor
  /// updates the buffer in place). Shape and dtype must equal the state's.
  void update(const State &state, const Tensor &newValue,
              SourceLoc loc = SourceLoc::current());
  /// Later reads of `state` in this function return `value` instead of the
  /// state, so a model's code can run on other weights (e.g. a frozen
  /// reference copy) while the state itself is left out of this entry. Only
  /// before the function reads or updates `state`; `value` must have its shape
  /// and dtype.
  void substitute(const State &state, const Tensor &value,
                  SourceLoc loc = SourceLoc::current());

private:
  friend class detail::GraphImpl;
  Function(detail::GraphImpl *graph, int index) : graph(graph), index(index) {}
  detail::GraphImpl *graph;
  int index;
};

class Graph {
public:
  /// `name` becomes the module's symbol name.
  explicit Graph(std::string name = "kiln");
  Graph(Graph &&) noexcept;
  Graph &operator=(Graph &&) noexcept;
  ~Graph();

  const std::string &name() const;

  /// Trainable state (StateKind::parameter).
  State parameter(std::string name, Shape shape, DType dtype, Init init,
                  SourceLoc loc = SourceLoc::current());
  State state(std::string name, Shape shape, DType dtype, Init init,
              StateKind kind, SourceLoc loc = SourceLoc::current());
  /// Marks a parameter [E, ...] as sharded over its first axis, the experts:
  /// compiled for expert parallelism (kiln-expert-parallel), each rank keeps
  /// E / ranks of them. Without expert parallelism it changes nothing.
  void shardOverExperts(const State &state,
                        SourceLoc loc = SourceLoc::current());
  /// Every state entry of `kind` (all of them without one), in creation order:
  /// e.g. the parameters an optimizer updates.
  std::vector<State> states(std::optional<StateKind> kind = std::nullopt) const;
  /// The entry function `name`, created on first use; later calls with the same
  /// name return the same function.
  Function &function(std::string name, SourceLoc loc = SourceLoc::current());

  /// OK, or the first (sticky) error.
  absl::Status status() const;
  /// The first error, or the verified module. Only once: the module moves out.
  absl::StatusOr<IrModule> build();

private:
  friend class Remat;
  std::unique_ptr<detail::GraphImpl> impl;
};

} // namespace kiln

#endif // KILN_FRONTEND_GRAPH_H
