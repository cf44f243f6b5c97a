//===- ZeroState.h - whole optimizer state over ZeRO-1 shards -*- C++ -*-===//
//
// Under kiln-shard-optimizer-state (ZeRO-1) each rank's executor holds its
// block of every optimizer state tensor (kind "optimizer_shard"). Host loops
// and checkpoints see the state whole through ZeroStateView: its state
// table lists each shard with the whole tensor's type and kind "optimizer",
// setState cuts this rank's block from a whole tensor, and getState returns
// the whole tensor once gather() (a collective every rank calls) has put
// the blocks together. Checkpoints so hold whole tensors and resume on any
// number of ranks, with or without ZeRO-1.
//
// Expert parallelism (kiln-expert-parallel) is the same view over another
// cut: each rank holds E/N experts of every parameter sharded over its
// experts, of its AdamW moments and of its GRPO reference copy, the rank's
// experts contiguous along the first axis. Their all_gather in rank order
// is the whole tensor, and create() draws each one whole from its
// initializer and cuts it (the inner runner drew the rank's shape alone), so
// N ranks start from one process's weights.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_ZEROSTATE_H
#define KILN_MODELS_TRAIN_ZEROSTATE_H

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "executor/ForwardingEntryRunner.h"
#include "executor/comm/Communicator.h"

namespace kiln::train {

class ZeroStateView final : public ForwardingEntryRunner {
public:
  /// A view of `inner` (which outlives it) for this rank of `world`. The
  /// whole shape of a shard named `<parameter>.<moment>` is the parameter's
  /// (kiln-train's optimizers name their state so); a shard with no such
  /// parameter, or whose block does not match, is an error naming it.
  /// `experts` names the parameters sharded over their first axis
  /// (Graph::shardOverExperts); their state `<parameter>.<moment>` and
  /// `ref.<parameter>` are sharded with them; create() sets each to its cut
  /// of the whole tensor its initializer draws.
  static absl::StatusOr<std::unique_ptr<ZeroStateView>>
  create(EntryRunner &inner, std::shared_ptr<Communicator> world,
         const std::vector<std::string> &experts = {});

  /// Every rank's blocks of every shard, put together on every rank; call on
  /// every rank at once. getState returns them until release().
  absl::Status gather();
  void release() { gathered.clear(); }

  absl::Status setState(std::string_view name, HostTensor value) override;
  absl::StatusOr<HostTensor> getState(std::string_view name) const override;
  /// The inner Executable with every shard's whole type, kind "optimizer".
  const proto::Executable &executable() const override { return whole; }

  /// Bytes of optimizer state this rank holds, and what one rank would
  /// hold whole (for logs).
  int64_t shardBytes() const { return heldBytes; }
  int64_t wholeBytes() const { return unshardedBytes; }
  /// Bytes of expert-sharded parameters this rank holds, and whole.
  int64_t expertShardBytes() const { return expertHeld; }
  int64_t expertWholeBytes() const { return expertWhole; }

private:
  ZeroStateView(EntryRunner &inner, std::shared_ptr<Communicator> world)
      : ForwardingEntryRunner(inner), world(std::move(world)) {}

  std::shared_ptr<Communicator> world;
  proto::Executable whole;
  /// Shard name -> the whole tensor's type and this rank's block, whose
  /// elements are the whole's from rank * block on (zero past its end).
  struct Shard {
    proto::TensorType whole;
    proto::TensorType block;
    proto::Initializer init;
    bool experts;
  };
  std::map<std::string, Shard, std::less<>> shards;
  std::map<std::string, HostTensor, std::less<>> gathered;
  int64_t heldBytes = 0, unshardedBytes = 0;
  int64_t expertHeld = 0, expertWhole = 0;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_ZEROSTATE_H
