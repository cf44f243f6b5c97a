//===- ReasonerBundle.h - where kiln-train's Executables live in a bundle -*- C++ -*-===//
//
// The bundle key of ReasonerGraph's Executable, computed from a TrainConfig
// alone, so a runtime-only kiln-train (no compiler) finds the Executable that
// `kiln-train --export-bundle` wrote for the same configuration.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_REASONERBUNDLE_H
#define KILN_MODELS_TRAIN_REASONERBUNDLE_H

#include <string>

#include "absl/status/statusor.h"
#include "executor/Bundle.h"
#include "executor/executable.pb.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// The key's entry field: one Executable holds every entry point of the graph.
inline constexpr const char *kReasonerBundleEntry = "reasoner";

/// The text the model hash is taken of: a version line, then one "field=value"
/// line for every field the compiled graph depends on, with its effective value
/// (a field left at its default and one set to the default hash alike):
/// every field of `model` in field-number order (with model.hf_checkpoint,
/// its config.json as Kiln reads it instead of the folder's path); the GRPO
/// objective baked into grpo_step (group_size, max_new_tokens, loss_type,
/// scale_rewards, beta, epsilon_low, epsilon_high, kl_estimator,
/// importance_sampling_level, entropy_coeff, kl_in_reward,
/// gradient_accumulation_steps, and temperature, which divides the logits of
/// every GRPO log-probability); and the shapes. Fields the graph never sees
/// (the task, learning rates, step counts, output folder, device) are left out,
/// so changing them reuses the bundle.
std::string reasonerHashText(const TrainConfig &config, const ReasonerShapes &shapes);
/// 64-bit FNV-1a of reasonerHashText as 16 hex digits: stable across builds,
/// machines and protobuf versions.
std::string reasonerModelHash(const TrainConfig &config, const ReasonerShapes &shapes);
/// "s<seqLen>_p<promptLen>_b<sftBatch>_g<grpoBatch>", the batches per rank,
/// and "_dp<ranks>" after it when data-parallel.
std::string reasonerBucket(const ReasonerShapes &shapes);
/// The full key for `target` ("host" or "ptx"), with this build's compiler version.
BundleKey reasonerBundleKey(const TrainConfig &config, const ReasonerShapes &shapes,
                            const std::string &target);

/// Reads the Executable for `target` from the bundle in `dir`. A missing key is
/// NotFound naming the key and `fillCommand`, the kiln-train --export-bundle
/// command that would write it.
absl::StatusOr<proto::Executable> loadReasonerExecutable(const std::string &dir,
                                                         const TrainConfig &config,
                                                         const ReasonerShapes &shapes,
                                                         const std::string &target,
                                                         const std::string &fillCommand);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_REASONERBUNDLE_H
