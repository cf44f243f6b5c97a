//===- ZeroState.cpp - whole state over ZeRO-1 and expert shards ----------===//

#include "models/train/ZeroState.h"

#include <cstring>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "executor/DType.h"
#include "executor/StateInit.h"
#include "executor/StatusMacros.h"

namespace kiln::train {
namespace {

constexpr const char *kShardKind = "optimizer_shard";

int64_t elementsOf(const proto::TensorType &type) {
  int64_t n = 1;
  for (int64_t d : type.shape())
    n *= d;
  return n;
}

int64_t blockOf(int64_t elements, int64_t ranks) {
  return (elements + ranks - 1) / ranks;
}

} // namespace

absl::StatusOr<std::unique_ptr<ZeroStateView>>
ZeroStateView::create(EntryRunner &inner, std::shared_ptr<Communicator> world,
                      const std::vector<std::string> &experts) {
  std::unique_ptr<ZeroStateView> view(new ZeroStateView(inner, world));
  view->whole = inner.executable();
  std::map<std::string, const proto::StateEntry *> parameters;
  for (const proto::StateEntry &e : view->whole.state())
    if (e.kind() == "parameter")
      parameters[e.name()] = &e;
  const int64_t ranks = world ? world->size() : 1;
  // The longest prefix that names a parameter: `a.b.exp_avg` is `a.b`'s.
  auto parameterOf = [&](const std::string &name) -> std::string {
    for (std::string prefix = name;;) {
      size_t dot = prefix.rfind('.');
      if (dot == std::string::npos)
        return "";
      prefix.resize(dot);
      if (parameters.count(prefix))
        return prefix;
    }
  };
  std::set<std::string, std::less<>> expertSet(experts.begin(), experts.end());
  for (const std::string &name : experts)
    if (!parameters.count(name))
      return absl::InvalidArgumentError(absl::StrCat(
          "expert-parallel parameter '", name, "' is not in the state table"));
  auto isExpertState = [&](const proto::StateEntry &e) {
    if (expertSet.empty())
      return false;
    if (expertSet.count(e.name()))
      return true;
    if (e.name().rfind("ref.", 0) == 0 && expertSet.count(e.name().substr(4)))
      return true;
    return e.kind() == "optimizer" && expertSet.count(parameterOf(e.name()));
  };
  for (proto::StateEntry &e : *view->whole.mutable_state()) {
    int64_t bytes = bufferBytes(e.type());
    if (isExpertState(e)) {
      // This rank's E/N experts: the whole tensor has N times the first
      // axis, and its block is the rank's contiguous run of experts.
      if (e.type().shape_size() == 0)
        return absl::InvalidArgumentError(absl::StrCat(
            "expert-parallel state '", e.name(), "' has no expert axis"));
      Shard shard{e.type(), e.type(), e.init(), true};
      shard.whole.set_shape(0, e.type().shape(0) * ranks);
      if (e.kind() == "parameter") {
        view->expertHeld += bytes;
        view->expertWhole += bytes * ranks;
      } else if (e.kind() == "optimizer") {
        view->heldBytes += bytes;
        view->unshardedBytes += bytes * ranks;
      }
      *e.mutable_type() = shard.whole;
      view->shards[e.name()] = std::move(shard);
      continue;
    }
    if (e.kind() != kShardKind) {
      if (e.kind() == "optimizer") {
        view->heldBytes += bytes;
        view->unshardedBytes += bytes;
      }
      continue;
    }
    auto parameter = parameters.find(parameterOf(e.name()));
    if (parameter == parameters.end())
      return absl::InvalidArgumentError(absl::StrCat(
          "ZeRO-1 shard '", e.name(),
          "' names no parameter whose shape it has (kiln-train's optimizer "
          "state is <parameter>.<moment>)"));
    proto::TensorType full = parameter->second->type();
    full.set_dtype(e.type().dtype());
    int64_t n = elementsOf(full);
    if (e.type().shape_size() != 1 || e.type().shape(0) != blockOf(n, ranks))
      return absl::InvalidArgumentError(absl::StrCat(
          "ZeRO-1 shard '", e.name(), "' holds ", elementsOf(e.type()),
          " elements, not a block of ", n, " over ", ranks, " ranks"));
    view->heldBytes += bytes;
    view->unshardedBytes += bufferBytes(full);
    view->shards[e.name()] = Shard{full, e.type(), e.init(), false};
    *e.mutable_type() = full;
    e.set_kind("optimizer");
  }
  // One process's draws: each expert shard's initializer over the whole
  // tensor, this rank's experts cut from it.
  for (const auto &[name, shard] : view->shards) {
    if (!shard.experts || shard.init.kind().empty())
      continue;
    KILN_ASSIGN_OR_RETURN(
        HostTensor value,
        initializeTensor(
            shard.whole, shard.init,
            [](int64_t n, const std::function<void(int64_t, int64_t)> &fn) {
              fn(0, n);
            }));
    KILN_RETURN_IF_ERROR(view->setState(name, std::move(value)));
  }
  return view;
}

absl::Status ZeroStateView::gather() {
  gathered.clear();
  const int64_t ranks = world ? world->size() : 1;
  for (const auto &[name, shard] : shards) {
    KILN_ASSIGN_OR_RETURN(HostTensor block, inner.getState(name));
    HostTensor all(block.dtype(), {block.numElements() * ranks});
    if (world)
      KILN_RETURN_IF_ERROR(world->allGather(block.data(), all.data(),
                                            block.byteSize(),
                                            {"sharded state gather", name}));
    else
      std::memcpy(all.data(), block.data(), block.byteSize());
    std::vector<int64_t> shape(shard.whole.shape().begin(),
                               shard.whole.shape().end());
    HostTensor value(block.dtype(), shape);
    std::memcpy(value.data(), all.data(), value.byteSize());
    gathered.emplace(name, std::move(value));
  }
  return absl::OkStatus();
}

absl::Status ZeroStateView::setState(std::string_view name, HostTensor value) {
  auto it = shards.find(name);
  if (it == shards.end())
    return inner.setState(name, std::move(value));
  const Shard &shard = it->second;
  int64_t n = elementsOf(shard.whole);
  if (value.numElements() != n || value.dtype() != shard.whole.dtype())
    return absl::InvalidArgumentError(
        absl::StrCat("state '", std::string(name), "' is ", value.typeString(),
                     ", expected ", n, " elements of its whole type"));
  const int64_t rank = world ? world->rank() : 0;
  int64_t size = elementsOf(shard.block);
  int64_t begin = std::min(n, rank * size), end = std::min(n, begin + size);
  // The padding past the tensor's last element is zeros, as initialised.
  std::vector<int64_t> shape(shard.block.shape().begin(),
                             shard.block.shape().end());
  HostTensor block(value.dtype(), shape);
  int64_t element = storageBytes(value.dtype());
  std::memset(block.data(), 0, block.byteSize());
  std::memcpy(block.data(),
              static_cast<const char *>(value.data()) + begin * element,
              (end - begin) * element);
  return inner.setState(name, std::move(block));
}

absl::StatusOr<HostTensor>
ZeroStateView::getState(std::string_view name) const {
  if (!shards.count(name))
    return inner.getState(name);
  auto it = gathered.find(name);
  if (it == gathered.end())
    return absl::FailedPreconditionError(absl::StrCat(
        "state '", std::string(name),
        "' is sharded over the ranks: every rank calls gather() before it is "
        "read "
        "whole"));
  return it->second;
}

} // namespace kiln::train
