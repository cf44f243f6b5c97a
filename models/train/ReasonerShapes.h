//===- ReasonerShapes.h - the shape bucket of kiln-train's entries -*- C++ -*-===//
//
// The shapes ReasonerGraph's entries are compiled for, derived from a
// TrainConfig alone (task, batch sizes, completion length), so a runtime-only
// kiln-train computes the same bucket as the compiler that filled its bundle.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_REASONERSHAPES_H
#define KILN_MODELS_TRAIN_REASONERSHAPES_H

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "models/deepseek/DeepseekConfig.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// Shapes the entries are compiled for (one shape bucket).
struct ReasonerShapes {
  int64_t seqLen;       // prompt + completion, padded
  int64_t promptLen;    // longest prompt (prefill)
  int64_t sftBatch;     // sequences per supervised step
  int64_t grpoBatch;    // prompts_per_step * group_size
  /// Data-parallel ranks (kiln-data-parallel): each runs the batches above
  /// on its own rows, and the training steps see the global batch's
  /// gradient and loss.
  int64_t dataParallel = 1;
  /// ZeRO stage over those ranks: 1 shards every optimizer state tensor
  /// (kiln-shard-optimizer-state), 0 keeps it whole on every rank.
  int64_t zero = 0;
  /// Expert-parallel ranks (kiln-expert-parallel): the same ranks as
  /// dataParallel, each holding n_routed_experts / expertParallel experts of
  /// every MoE layer (and their optimizer state); 1 keeps them whole.
  int64_t expertParallel = 1;
};

/// Whether the policy's parameter `name` is a stacked expert weight
/// (`<layer>.mlp.experts.<projection>`, [E, ...], as DeepseekMoe declares
/// them): what expert parallelism shards. kiln-train-rt, which builds no
/// graph, finds them in the Executable's state table by this name;
/// buildReasonerGraph refuses a policy whose experts it would miss.
inline bool isStackedExpert(std::string_view name) {
  size_t last = name.rfind('.');
  if (last == std::string_view::npos)
    return false;
  std::string_view rest = name.substr(0, last);
  size_t dot = rest.rfind('.');
  return rest.substr(dot == std::string_view::npos ? 0 : dot + 1) == "experts";
}

/// kiln-train's shapes for `config`: the longest prompt of the task, a sequence
/// long enough for the longest demonstration and for a prompt plus
/// grpo.max_new_tokens, sft.batch_size and prompts_per_step * group_size rows.
/// A sequence longer than model.max_position_embeddings is an error, and so is
/// a model whose training state would not fit this machine's memory.
absl::StatusOr<ReasonerShapes> reasonerShapes(const TrainConfig &config);

/// Whether `ranks` data-parallel ranks can share `config`'s batches: each
/// rank takes sft.batch_size / ranks sequences and prompts_per_step / ranks
/// whole groups, and its GRPO rows must split into the
/// gradient_accumulation_steps micro-batches. An error names the numbers
/// that do not divide. config.expert_parallel other than 1 must equal `ranks`
/// (the experts are sharded over the data-parallel ranks), divide
/// model.n_routed_experts, and train on the CPU in bf16 without gradient
/// accumulation; anything else is refused, saying what.
absl::Status checkDataParallel(const TrainConfig &config, int64_t ranks);

/// `global` (reasonerShapes) for one of `ranks` data-parallel ranks: the
/// per-rank batches, and dataParallel and expertParallel set
/// (checkDataParallel first).
absl::StatusOr<ReasonerShapes> dataParallelShapes(const TrainConfig &config,
                                                  ReasonerShapes global,
                                                  int64_t ranks);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_REASONERSHAPES_H
