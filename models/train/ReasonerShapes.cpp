//===- ReasonerShapes.cpp - the shape bucket of kiln-train's entries -------===//

#include "models/train/ReasonerShapes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/StatusMacros.h"
#include "models/train/PolicyConfig.h"
#include "models/train/Trainer.h"

namespace kiln::train {

absl::StatusOr<ReasonerShapes> reasonerShapes(const TrainConfig &config) {
  KILN_ASSIGN_OR_RETURN(models::DeepseekV3Config policy, policyConfig(config));
  KILN_ASSIGN_OR_RETURN(auto sizes, Trainer::measure(config));
  auto [promptLen, demoLen] = sizes;
  int64_t seqLen = std::max<int64_t>(demoLen, promptLen + config.grpo().max_new_tokens());
  if (seqLen > policy.maxPositionEmbeddings)
    return absl::InvalidArgumentError(absl::StrFormat(
        "sequences need %d positions but %s is %d", seqLen,
        config.model().has_hf_checkpoint()
            ? "max_position_embeddings of model.hf_checkpoint's config.json"
            : "model.max_position_embeddings",
        policy.maxPositionEmbeddings));
  ReasonerShapes shapes{seqLen, promptLen, config.sft().batch_size(),
                        config.grpo().prompts_per_step() *
                            config.grpo().group_size()};
  // Before anything is built or allocated: weights, gradients, two AdamW
  // moments and the GRPO reference (4 bytes each), and activations of the
  // larger batch through every layer (a generous 64 floats per hidden unit).
  if (absl::Status s = policy.validate(); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat("model: ", s.message()));
  double rows = std::max<double>(shapes.sftBatch, shapes.grpoBatch);
  double activations =
      rows * double(seqLen) * 4.0 *
      (64.0 * double(policy.hiddenSize) * double(policy.numHiddenLayers) +
       4.0 * double(policy.vocabSize));
  KILN_RETURN_IF_ERROR(policy.checkFitsInMemory(20, activations, "the policy"));
  return shapes;
}

namespace {

absl::Status checkExpertParallel(const TrainConfig &config, int64_t ranks) {
  const int64_t ep = config.expert_parallel();
  if (ep == 1)
    return absl::OkStatus();
  if (ep < 1)
    return absl::InvalidArgumentError(absl::StrFormat(
        "expert_parallel (--expert-parallel) must be at least 1, got %d", ep));
  // The experts are laid over the data-parallel ranks (DeepSeek's EP over
  // DP): every rank is one of the expert-parallel group.
  if (ep != ranks)
    return absl::InvalidArgumentError(absl::StrFormat(
        "expert_parallel (--expert-parallel) is %d but the world has %d "
        "ranks: the experts are sharded over the data-parallel ranks, so "
        "run mpirun -np %d (or export with --data-parallel=%d)",
        ep, ranks, ep, ep));
  KILN_ASSIGN_OR_RETURN(models::DeepseekV3Config policy, policyConfig(config));
  if (policy.nRoutedExperts % ep != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "expert_parallel (--expert-parallel) %d does not divide the policy's "
        "%d routed experts (model.n_routed_experts): each rank holds an "
        "equal share of them",
        ep, policy.nRoutedExperts));
  if (policy.numHiddenLayers <= policy.firstKDenseReplace)
    return absl::InvalidArgumentError(absl::StrFormat(
        "expert_parallel (--expert-parallel) %d, but the policy has no MoE "
        "layer (model.first_k_dense_replace %d of %d layers)",
        ep, policy.firstKDenseReplace, policy.numHiddenLayers));
  if (config.grpo().gradient_accumulation_steps() > 1)
    return absl::UnimplementedError(absl::StrFormat(
        "expert_parallel (--expert-parallel) %d with "
        "grpo.gradient_accumulation_steps %d: the accumulation buffers are "
        "not sharded over the experts; leave it at 1",
        ep, config.grpo().gradient_accumulation_steps()));
  if (config.device() != "cpu")
    return absl::UnimplementedError(absl::StrFormat(
        "expert_parallel (--expert-parallel) %d is built for CPU ranks "
        "under mpirun (device \"cpu\"), not device \"%s\"",
        ep, config.device()));
  if (config.precision() != "bf16")
    return absl::UnimplementedError(absl::StrFormat(
        "expert_parallel (--expert-parallel) %d with precision \"%s\": "
        "the narrowed expert GEMMs are not sharded yet; use \"bf16\"",
        ep, config.precision()));
  return absl::OkStatus();
}

} // namespace

absl::Status checkDataParallel(const TrainConfig &config, int64_t ranks) {
  KILN_RETURN_IF_ERROR(checkExpertParallel(config, ranks));
  if (ranks < 1)
    return absl::InvalidArgumentError(absl::StrFormat(
        "data parallelism needs at least one rank, got %d", ranks));
  if (ranks == 1)
    return absl::OkStatus();
  const int64_t sftBatch = config.sft().batch_size();
  const int64_t prompts = config.grpo().prompts_per_step();
  if (config.mode() != "grpo" && sftBatch % ranks != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "sft.batch_size %d does not split over %d ranks: each rank takes an "
        "equal share of the batch, so the world size must divide it",
        sftBatch, ranks));
  if (config.mode() != "sft" && prompts % ranks != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "grpo.prompts_per_step %d does not split over %d ranks: each rank "
        "rolls out whole groups of an equal share of the prompts, so the "
        "world size must divide it",
        prompts, ranks));
  const int64_t rows = prompts / ranks * config.grpo().group_size();
  const int64_t micro = config.grpo().gradient_accumulation_steps();
  if (config.mode() != "sft" && micro > 0 && rows % micro != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "each of %d ranks trains on %d GRPO rows (prompts_per_step / ranks * "
        "group_size), which grpo.gradient_accumulation_steps %d does not "
        "divide",
        ranks, rows, micro));
  return absl::OkStatus();
}

absl::StatusOr<ReasonerShapes> dataParallelShapes(const TrainConfig &config,
                                                  ReasonerShapes global,
                                                  int64_t ranks) {
  KILN_RETURN_IF_ERROR(checkDataParallel(config, ranks));
  if (ranks == 1)
    return global;
  // Entries of the phase a mode does not run still exist; a batch that does
  // not split keeps one sequence (one group) per rank there.
  global.sftBatch = std::max<int64_t>(global.sftBatch / ranks, 1);
  global.grpoBatch =
      std::max<int64_t>(config.grpo().prompts_per_step() / ranks, 1) *
      config.grpo().group_size();
  global.dataParallel = ranks;
  global.expertParallel = config.expert_parallel();
  return global;
}

} // namespace kiln::train
