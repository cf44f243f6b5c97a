//===- ReasonerBundle.cpp - where kiln-train's Executables live in a bundle ===//

#include "models/train/ReasonerBundle.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/CompilerVersion.h"
#include "executor/StatusMacros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "models/train/PolicyConfig.h"

namespace kiln::train {
namespace {

/// "name=value\n" with the value as text format prints it; an unset singular
/// field reads as its default through reflection.
void appendField(std::string &out, const std::string &prefix,
                 const google::protobuf::Message &message,
                 const google::protobuf::FieldDescriptor *field) {
  std::string value;
  google::protobuf::TextFormat::PrintFieldValueToString(message, field, -1, &value);
  absl::StrAppend(&out, prefix, field->name(), "=", value, "\n");
}

} // namespace

std::string reasonerHashText(const TrainConfig &config, const ReasonerShapes &shapes) {
  // Bump the version when the graph builder changes what a field means.
  // v2: reset_optimizer, tempered GRPO log-probabilities, row-counted
  // grpo/dr_grpo denominators. v3: sync_reference, the rollouts' min_p
  // input, micro-batch entries.
  std::string text = "kiln.train.ReasonerGraph v3\n";
  const ModelConfig &model = config.model();
  const auto *modelFields = model.GetDescriptor();
  std::vector<const google::protobuf::FieldDescriptor *> fields;
  for (int i = 0; i < modelFields->field_count(); ++i)
    fields.push_back(modelFields->field(i));
  std::sort(fields.begin(), fields.end(),
            [](auto *a, auto *b) { return a->number() < b->number(); });
  for (const auto *field : fields) {
    // A pretrained policy's graph depends on its config.json, not on where
    // the folder lies (a GPU machine holds it elsewhere); the chat template
    // shapes prompts only, which the shapes below record.
    if (field->name() == "hf_checkpoint" || field->name() == "chat_template")
      continue;
    appendField(text, "model.", model, field);
  }
  if (model.has_hf_checkpoint()) {
    absl::StatusOr<models::DeepseekV3Config> policy = policyConfig(config);
    absl::StrAppend(&text, "hf_config=",
                    policy.ok() ? policy->toJson()
                                : std::string(policy.status().message()),
                    "\n");
  }
  const GrpoConfig &grpo = config.grpo();
  for (const char *name :
       {"group_size", "max_new_tokens", "loss_type", "scale_rewards", "beta",
        "epsilon_low", "epsilon_high", "temperature", "kl_estimator",
        "importance_sampling_level", "entropy_coeff", "kl_in_reward",
        "gradient_accumulation_steps"})
    appendField(text, "grpo.", grpo, grpo.GetDescriptor()->FindFieldByName(name));
  // The bf16 policy adds nothing, so bundles compiled before it keep their
  // keys.
  if (config.precision() != "bf16")
    absl::StrAppend(&text, "precision=", config.precision(), "\n");
  absl::StrAppend(&text, "shapes=", reasonerBucket(shapes), "\n");
  return text;
}

std::string reasonerModelHash(const TrainConfig &config, const ReasonerShapes &shapes) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : reasonerHashText(config, shapes))
    h = (h ^ c) * 1099511628211ull;
  return absl::StrFormat("%016x", h);
}

std::string reasonerBucket(const ReasonerShapes &shapes) {
  std::string bucket =
      absl::StrCat("s", shapes.seqLen, "_p", shapes.promptLen, "_b",
                   shapes.sftBatch, "_g", shapes.grpoBatch);
  if (shapes.dataParallel > 1)
    absl::StrAppend(&bucket, "_dp", shapes.dataParallel);
  // Sharded optimizer state is another state table.
  if (shapes.zero > 0)
    absl::StrAppend(&bucket, "_zero", shapes.zero);
  // So are experts sharded over the ranks.
  if (shapes.expertParallel > 1)
    absl::StrAppend(&bucket, "_ep", shapes.expertParallel);
  return bucket;
}

BundleKey reasonerBundleKey(const TrainConfig &config, const ReasonerShapes &shapes,
                            const std::string &target) {
  return BundleKey{reasonerModelHash(config, shapes), kReasonerBundleEntry,
                   reasonerBucket(shapes), target, kKilnCompilerVersion};
}

absl::StatusOr<proto::Executable> loadReasonerExecutable(const std::string &dir,
                                                         const TrainConfig &config,
                                                         const ReasonerShapes &shapes,
                                                         const std::string &target,
                                                         const std::string &fillCommand) {
  KILN_ASSIGN_OR_RETURN(Bundle bundle, openBundle(dir));
  return bundle.load(reasonerBundleKey(config, shapes, target), fillCommand);
}

} // namespace kiln::train
