//===- Graph.cpp - the public Graph and State handles
//----------------------===//
//
// Thin forwarding to GraphImpl, which owns the module and the sticky error.
//
//===----------------------------------------------------------------------===//

#include "frontend/GraphImpl.h"

namespace kiln {

Graph::Graph(std::string name)
    : impl(std::make_unique<detail::GraphImpl>(std::move(name))) {}
Graph::Graph(Graph &&) noexcept = default;
Graph &Graph::operator=(Graph &&) noexcept = default;
Graph::~Graph() = default;

const std::string &Graph::name() const { return impl->name(); }

State Graph::parameter(std::string name, Shape shape, DType dtype, Init init,
                       SourceLoc loc) {
  return impl->addState(std::move(name), std::move(shape), dtype, init,
                        StateKind::parameter, loc);
}

State Graph::state(std::string name, Shape shape, DType dtype, Init init,
                   StateKind kind, SourceLoc loc) {
  return impl->addState(std::move(name), std::move(shape), dtype, init, kind,
                        loc);
}

void Graph::shardOverExperts(const State &state, SourceLoc loc) {
  impl->shardOverExperts(state, loc);
}

std::vector<State> Graph::states(std::optional<StateKind> kind) const {
  return impl->statesOfKind(kind);
}

Function &Graph::function(std::string name, SourceLoc loc) {
  return impl->function(name, loc);
}

absl::Status Graph::status() const { return impl->status(); }

absl::StatusOr<IrModule> Graph::build() { return impl->finish(); }

const std::string &State::name() const {
  static const std::string empty;
  return valid() ? graph->stateInfo(index).name : empty;
}

Shape State::shape() const {
  return valid() ? graph->stateInfo(index).shape : Shape();
}

DType State::dtype() const {
  return valid() ? graph->stateInfo(index).dtype : DType::f32;
}

StateKind State::kind() const {
  return valid() ? graph->stateInfo(index).kind : StateKind::parameter;
}

} // namespace kiln
