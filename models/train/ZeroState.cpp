//===- ZeroState.cpp - whole optimizer state over ZeRO-1 shards -----------===//

#include "models/train/ZeroState.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "executor/DType.h"
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
ZeroStateView::create(EntryRunner &inner, std::shared_ptr<Communicator> world) {
  std::unique_ptr<ZeroStateView> view(new ZeroStateView(inner, world));
  view->whole = inner.executable();
  std::map<std::string, const proto::StateEntry *> parameters;
  for (const proto::StateEntry &e : view->whole.state())
    if (e.kind() == "parameter")
      parameters[e.name()] = &e;
  const int64_t ranks = world ? world->size() : 1;
  for (proto::StateEntry &e : *view->whole.mutable_state()) {
    int64_t bytes = elementsOf(e.type()) * storageBytes(e.type().dtype());
    if (e.kind() != kShardKind) {
      if (e.kind() == "optimizer") {
        view->heldBytes += bytes;
        view->unshardedBytes += bytes;
      }
      continue;
    }
    // The longest prefix that names a parameter: `a.b.exp_avg` is `a.b`'s.
    const proto::StateEntry *parameter = nullptr;
    for (std::string prefix = e.name(); !parameter;) {
      size_t dot = prefix.rfind('.');
      if (dot == std::string::npos)
        break;
      prefix.resize(dot);
      if (auto it = parameters.find(prefix); it != parameters.end())
        parameter = it->second;
    }
    if (!parameter)
      return absl::InvalidArgumentError(absl::StrCat(
          "ZeRO-1 shard '", e.name(),
          "' names no parameter whose shape it has (kiln-train's optimizer "
          "state is <parameter>.<moment>)"));
    proto::TensorType full = parameter->type();
    full.set_dtype(e.type().dtype());
    int64_t n = elementsOf(full);
    if (e.type().shape_size() != 1 || e.type().shape(0) != blockOf(n, ranks))
      return absl::InvalidArgumentError(absl::StrCat(
          "ZeRO-1 shard '", e.name(), "' holds ", elementsOf(e.type()),
          " elements, not a block of ", n, " over ", ranks, " ranks"));
    view->heldBytes += bytes;
    view->unshardedBytes += n * storageBytes(full.dtype());
    view->shards[e.name()] = full;
    *e.mutable_type() = full;
    e.set_kind("optimizer");
  }
  return view;
}

absl::Status ZeroStateView::gather() {
  gathered.clear();
  const int64_t ranks = world ? world->size() : 1;
  for (const auto &[name, full] : shards) {
    KILN_ASSIGN_OR_RETURN(HostTensor block, inner.getState(name));
    HostTensor all(block.dtype(), {block.numElements() * ranks});
    if (world)
      KILN_RETURN_IF_ERROR(world->allGather(
          block.data(), all.data(), block.byteSize(), {"zero1 gather", name}));
    else
      std::memcpy(all.data(), block.data(), block.byteSize());
    std::vector<int64_t> shape(full.shape().begin(), full.shape().end());
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
  const proto::TensorType &full = it->second;
  int64_t n = elementsOf(full);
  if (value.numElements() != n || value.dtype() != full.dtype())
    return absl::InvalidArgumentError(
        absl::StrCat("state '", std::string(name), "' is ", value.typeString(),
                     ", expected ", n, " elements of its whole type"));
  const int64_t ranks = world ? world->size() : 1;
  const int64_t rank = world ? world->rank() : 0;
  int64_t size = blockOf(n, ranks);
  int64_t begin = std::min(n, rank * size), end = std::min(n, begin + size);
  // The padding past the tensor's last element is zeros, as initialised.
  HostTensor block(value.dtype(), {size});
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
        "' is a ZeRO-1 shard: every rank calls gather() before it is read "
        "whole"));
  return it->second;
}

} // namespace kiln::train
