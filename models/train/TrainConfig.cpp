//===- TrainConfig.cpp - reading and checking kiln-train's configuration ---===//

#include "models/train/TrainConfig.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace kiln::train {
namespace {

/// Collects the text-format parser's errors as "source:line:col: message".
class ErrorCollector : public google::protobuf::io::ErrorCollector {
public:
  explicit ErrorCollector(std::string source) : source(std::move(source)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string &message) override {
    // A hostile file can hold millions of errors, each quoting its text.
    if (errors.size() >= 10)
      return;
    errors.push_back(absl::StrCat(source, ":", line + 1, ":", column + 1, ": ",
                                  message.substr(0, 200),
                                  message.size() > 200 ? "..." : ""));
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string &) override {}
  std::vector<std::string> errors;

private:
  std::string source;
};

absl::Status parseInto(const std::string &text, const std::string &source,
                       TrainConfig &config) {
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors(source);
  parser.RecordErrorsTo(&errors);
  if (!parser.MergeFromString(text, &config))
    return absl::InvalidArgumentError(
        errors.errors.empty() ? absl::StrCat(source, ": cannot parse the configuration")
                              : absl::StrJoin(errors.errors, "\n"));
  return absl::OkStatus();
}

absl::Status oneOf(const std::string &field, const std::string &value,
                   std::initializer_list<const char *> allowed) {
  for (const char *a : allowed)
    if (value == a)
      return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " is \"", value, "\"; expected one of: ",
                                                 absl::StrJoin(allowed, ", ")));
}

absl::Status positive(const std::string &field, double value) {
  if (value > 0)
    return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be > 0, got ", value));
}

/// 2^31: far beyond any sensible run, small enough that two sizes multiply
/// (prompts_per_step * group_size, step * batch_size) without wrapping.
constexpr int64_t kMaxSize = int64_t{1} << 31;

/// Every double and int64 field of `m` and its messages, defaults included:
/// non-finite floats (NaN passes every `< 0` check) and sizes past kMaxSize
/// are errors naming the field's path.
absl::Status checkNumbers(const google::protobuf::Message &m,
                          const std::string &prefix) {
  const google::protobuf::Descriptor *d = m.GetDescriptor();
  const google::protobuf::Reflection *r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor *f = d->field(i);
    std::string name = prefix + f->name();
    if (f->is_repeated())
      continue;
    switch (f->cpp_type()) {
    case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
      if (absl::Status s = checkNumbers(r->GetMessage(m, f), name + ".");
          !s.ok())
        return s;
      break;
    case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE:
    case google::protobuf::FieldDescriptor::CPPTYPE_FLOAT: {
      double v =
          f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE
              ? r->GetDouble(m, f)
              : r->GetFloat(m, f);
      if (!std::isfinite(v))
        return absl::InvalidArgumentError(
            absl::StrCat(name, " must be a finite number, got ", v));
      break;
    }
    case google::protobuf::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = r->GetInt64(m, f);
      // Seeds are bits, not sizes.
      if (f->name() != "seed" && (v > kMaxSize || v < -kMaxSize))
        return absl::InvalidArgumentError(absl::StrCat(
            name, " is ", v, "; Kiln accepts sizes of at most ", kMaxSize));
      break;
    }
    default:
      break;
    }
  }
  return absl::OkStatus();
}

/// Each preset's fields, as text format of GrpoConfig. TRL: GRPOConfig's
/// defaults (loss_type "dapo", epsilon 0.2 both ways, beta 0, no dynamic
/// sampling or overlong filtering, transformers' linear decay). DAPO: verl's
/// recipe (clip-higher 0.28, filter_groups on acc with up to 10 generation
/// batches, overlong filtering as in the paper's ablation, 10 warmup steps
/// then constant). Dr. GRPO: dr_grpo's constant normaliser and unscaled
/// advantages, otherwise TRL's.
const char *presetText(const std::string &name) {
  if (name == "trl")
    return R"(loss_type: "dapo" scale_rewards: "group" epsilon_low: 0.2
              epsilon_high: 0.2 beta: 0 mu: 1 temperature: 1 top_p: 1
              top_k: 0 dynamic_sampling: false
              mask_truncated_completions: false lr_schedule: "linear"
              warmup_steps: 0 kl_estimator: "k3")";
  if (name == "dapo")
    return R"(loss_type: "dapo" scale_rewards: "group" epsilon_low: 0.2
              epsilon_high: 0.28 beta: 0 mu: 1 temperature: 1 top_p: 1 top_k: 0
              dynamic_sampling: true filter_metric: "accuracy"
              max_resample_rounds: 9 mask_truncated_completions: true
              lr_schedule: "constant" warmup_steps: 10 kl_estimator: "k3")";
  if (name == "dr_grpo")
    return R"(loss_type: "dr_grpo" scale_rewards: "none" epsilon_low: 0.2
              epsilon_high: 0.2 beta: 0 mu: 1 temperature: 1 top_p: 1
              top_k: 0 dynamic_sampling: false
              mask_truncated_completions: false lr_schedule: "constant"
              warmup_steps: 0 kl_estimator: "k3")";
  return nullptr;
}

/// Sets every field of grpo.preset that the configuration left unset.
absl::Status applyPreset(TrainConfig &config) {
  if (!config.grpo().has_preset())
    return absl::OkStatus();
  const std::string &name = config.grpo().preset();
  const char *text = presetText(name);
  if (text == nullptr)
    return oneOf("grpo.preset", name, {"trl", "dapo", "dr_grpo"});
  GrpoConfig preset;
  if (!google::protobuf::TextFormat::ParseFromString(text, &preset))
    return absl::InternalError("grpo.preset " + name + " does not parse");
  // The configuration's own fields win: merged over the preset, every field
  // it set replaces the preset's.
  preset.MergeFrom(config.grpo());
  *config.mutable_grpo() = std::move(preset);
  return absl::OkStatus();
}

/// The checks of issue 15's second part: GSPO, overlong shaping, entropy
/// bonus, reward functions, KL placement, reference sync, micro-batches,
/// min_p and pass@k.
absl::Status validateGrpoExtras(const TrainConfig &c) {
  const GrpoConfig &g = c.grpo();
  auto bad = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  if (g.overlong_buffer_len() < 0 ||
      g.overlong_buffer_len() > g.max_new_tokens())
    return bad("grpo.overlong_buffer_len must be in [0, max_new_tokens = ",
               g.max_new_tokens(), "], got ", g.overlong_buffer_len());
  if (g.overlong_penalty_factor() < 0)
    return bad("grpo.overlong_penalty_factor must be >= 0, got ",
               g.overlong_penalty_factor());
  if (g.entropy_coeff() < 0)
    return bad("grpo.entropy_coeff must be >= 0 (an entropy bonus), got ",
               g.entropy_coeff());
  for (int i = 0; i < g.reward_funcs_size(); ++i) {
    if (auto s =
            oneOf(absl::StrCat("grpo.reward_funcs[", i, "]"), g.reward_funcs(i),
                  {"accuracy", "format", "lenient_format"});
        !s.ok())
      return s;
    for (int j = 0; j < i; ++j)
      if (g.reward_funcs(j) == g.reward_funcs(i))
        return bad("grpo.reward_funcs names \"", g.reward_funcs(i), "\" twice");
  }
  if (g.reward_weights_size() > 0 &&
      g.reward_weights_size() != g.reward_funcs_size())
    return bad("grpo.reward_weights has ", g.reward_weights_size(),
               " weights for ", g.reward_funcs_size(),
               " grpo.reward_funcs; give one per function, or none (each 1)");
  for (int i = 0; i < g.reward_weights_size(); ++i)
    if (!std::isfinite(g.reward_weights(i)))
      return bad("grpo.reward_weights[", i, "] must be a finite number, got ",
                 g.reward_weights(i));
  if (g.reward_funcs_size() > 0 &&
      (c.task().has_accuracy_weight() || c.task().has_format_weight()))
    return bad("task.accuracy_weight and task.format_weight weigh the default "
               "reward functions; with grpo.reward_funcs set, give "
               "grpo.reward_weights instead");
  if (g.kl_in_reward() && g.beta() == 0)
    return bad("grpo.kl_in_reward needs grpo.beta > 0 (the KL's weight)");
  if (g.sync_ref_model() && g.beta() == 0)
    return bad("grpo.sync_ref_model needs grpo.beta > 0 (with beta 0 there is "
               "no reference model)");
  if (g.ref_model_mixup_alpha() < 0 || g.ref_model_mixup_alpha() > 1)
    return bad("grpo.ref_model_mixup_alpha must be in [0, 1], got ",
               g.ref_model_mixup_alpha());
  int64_t rows = g.prompts_per_step() * g.group_size();
  if (rows % g.gradient_accumulation_steps() != 0)
    return bad("grpo.gradient_accumulation_steps (",
               g.gradient_accumulation_steps(),
               ") must divide prompts_per_step * group_size = ", rows);
  if (g.min_p() < 0 || g.min_p() > 1)
    return bad("grpo.min_p must be in [0, 1] (0: off), got ", g.min_p());
  const EvalConfig &e = c.eval();
  for (int i = 0; i < e.pass_at_k_size(); ++i)
    if (e.pass_at_k(i) < 1 || e.pass_at_k(i) > e.samples_per_problem())
      return bad("eval.pass_at_k[", i,
                 "] must be in [1, samples_per_problem = ",
                 e.samples_per_problem(), "], got ", e.pass_at_k(i));
  if (e.temperature() < 0 ||
      (e.samples_per_problem() > 1 && e.temperature() == 0))
    return bad("eval.temperature must be > 0 when samples_per_problem > 1 "
               "(greedy samples are all one) and >= 0, got ",
               e.temperature());
  return absl::OkStatus();
}

/// The checks of issue 15's third part: a pretrained Hugging Face start and
/// a JSONL task.
absl::Status validateHfAndJsonl(const TrainConfig &c) {
  auto bad = [](auto... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  const ModelConfig &m = c.model();
  if (m.has_hf_checkpoint()) {
    if (m.hf_checkpoint().empty())
      return bad("model.hf_checkpoint needs a folder name");
    // The checkpoint's config.json is the architecture: a size set here
    // would be silently ignored or contradict it.
    const google::protobuf::Descriptor *d = m.GetDescriptor();
    const google::protobuf::Reflection *r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
      const google::protobuf::FieldDescriptor *f = d->field(i);
      if (f->name() != "hf_checkpoint" && f->name() != "chat_template" &&
          r->HasField(m, f))
        return bad("model.", f->name(),
                   " is set, but model.hf_checkpoint's config.json sets the "
                   "architecture; remove it");
    }
  }
  if (m.has_chat_template()) {
    if (!m.has_hf_checkpoint())
      return bad("model.chat_template needs model.hf_checkpoint (a policy "
                 "trained from scratch reads Kiln's byte tokenizer and the "
                 "task's prompt_template)");
    if (auto s = oneOf("model.chat_template", m.chat_template(),
                       {"deepseek-v3", "deepseek-r1", "chatml"});
        !s.ok())
      return s;
  }
  const TaskConfig &t = c.task();
  if (t.has_jsonl() && t.name() != "jsonl")
    return bad("task.jsonl is set but task.name is \"", t.name(),
               "\"; set task.name: \"jsonl\" to read it");
  if (t.name() != "jsonl")
    return absl::OkStatus();
  const JsonlTaskConfig &j = t.jsonl();
  if (j.path().empty())
    return bad("task.name \"jsonl\" needs task.jsonl.path (a JSON Lines file)");
  if (auto s = oneOf("task.jsonl.reward", j.reward(),
                     {"integer", "exact", "countdown"});
      !s.ok())
    return s;
  if (j.prompt_field().empty() || j.answer_field().empty() ||
      j.numbers_field().empty() || j.target_field().empty())
    return bad("task.jsonl's prompt_field, answer_field, numbers_field and "
               "target_field must not be empty");
  if (!(j.eval_fraction() > 0 && j.eval_fraction() < 1))
    return bad("task.jsonl.eval_fraction must be in (0, 1), got ",
               j.eval_fraction());
  if (c.mode() != "grpo" && j.demonstration_field().empty())
    return bad("mode \"", c.mode(),
               "\" runs SFT, which needs worked completions: set "
               "task.jsonl.demonstration_field, or mode: \"grpo\"");
  if (t.countdown_allow_subsets() && j.reward() != "countdown")
    return bad("task.countdown_allow_subsets applies to task.jsonl.reward "
               "\"countdown\" only");
  return absl::OkStatus();
}

} // namespace

absl::Status validateTrainConfig(const TrainConfig &c) {
  if (absl::Status s = checkNumbers(c, ""); !s.ok())
    return s;
  for (auto s :
       {oneOf("mode", c.mode(), {"sft", "grpo", "sft+grpo"}),
        oneOf("device", c.device(), {"cpu", "cuda"}),
        oneOf("precision", c.precision(), {"bf16", "fp8", "fp8-delayed"}),
        oneOf("task.name", c.task().name(),
              {"arithmetic", "countdown", "jsonl"}),
        oneOf("task.prompt_template", c.task().prompt_template(),
              {"bare", "compact", "r1_zero"}),
        oneOf("grpo.loss_type", c.grpo().loss_type(),
              {"grpo", "bnpo", "dr_grpo", "dapo"}),
        oneOf("grpo.scale_rewards", c.grpo().scale_rewards(),
              {"group", "batch", "none"}),
        oneOf("grpo.kl_estimator", c.grpo().kl_estimator(), {"k1", "k2", "k3"}),
        oneOf("grpo.filter_metric", c.grpo().filter_metric(),
              {"accuracy", "reward"}),
        oneOf("grpo.lr_schedule", c.grpo().lr_schedule(),
              {"constant", "linear", "cosine"}),
        oneOf("grpo.importance_sampling_level",
              c.grpo().importance_sampling_level(), {"token", "sequence"}),
        positive("model.hidden_size", c.model().hidden_size()),
        positive("model.num_hidden_layers", c.model().num_hidden_layers()),
        positive("model.num_attention_heads", c.model().num_attention_heads()),
        positive("model.n_routed_experts", c.model().n_routed_experts()),
        positive("model.max_position_embeddings",
                 c.model().max_position_embeddings()),
        positive("sft.batch_size", c.sft().batch_size()),
        positive("sft.learning_rate", c.sft().learning_rate()),
        positive("grpo.prompts_per_step", c.grpo().prompts_per_step()),
        positive("grpo.max_new_tokens", c.grpo().max_new_tokens()),
        positive("grpo.learning_rate", c.grpo().learning_rate()),
        positive("grpo.mu", c.grpo().mu()),
        positive("grpo.ref_model_sync_steps", c.grpo().ref_model_sync_steps()),
        positive("grpo.gradient_accumulation_steps",
                 c.grpo().gradient_accumulation_steps()),
        positive("eval.samples_per_problem", c.eval().samples_per_problem()),
        positive("eval.problems", c.eval().problems())})
    if (!s.ok())
      return s;
  if (c.grpo().group_size() < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "grpo.group_size must be >= 2 (advantages compare completions of one prompt), got ",
        c.grpo().group_size()));
  if (c.model().num_experts_per_tok() < 1 ||
      c.model().num_experts_per_tok() > c.model().n_routed_experts())
    return absl::InvalidArgumentError(absl::StrCat(
        "model.num_experts_per_tok must be in [1, n_routed_experts = ",
        c.model().n_routed_experts(), "], got ", c.model().num_experts_per_tok()));
  if (c.grpo().temperature() < 0 || c.grpo().top_p() <= 0 || c.grpo().top_p() > 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "grpo.temperature must be >= 0 and grpo.top_p in (0, 1], got ",
        c.grpo().temperature(), " and ", c.grpo().top_p()));
  if (c.grpo().beta() < 0 || c.grpo().epsilon_low() < 0 || c.grpo().epsilon_high() < 0)
    return absl::InvalidArgumentError("grpo.beta, epsilon_low and epsilon_high must be >= 0");
  if (c.grpo().prompt_pool() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.prompt_pool must be >= 0, got ", c.grpo().prompt_pool()));
  if (c.grpo().has_preset() && presetText(c.grpo().preset()) == nullptr)
    return oneOf("grpo.preset", c.grpo().preset(), {"trl", "dapo", "dr_grpo"});
  if (c.grpo().top_k() < 0)
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.top_k must be >= 0 (0: no top-k filter), got ",
                     c.grpo().top_k()));
  if (c.grpo().warmup_steps() < 0 || c.grpo().max_resample_rounds() < 0)
    return absl::InvalidArgumentError(absl::StrCat(
        "grpo.warmup_steps and grpo.max_resample_rounds must be >= 0, got ",
        c.grpo().warmup_steps(), " and ", c.grpo().max_resample_rounds()));
  if (c.grpo().min_lr_ratio() < 0 || c.grpo().min_lr_ratio() > 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "grpo.min_lr_ratio must be in [0, 1], got ", c.grpo().min_lr_ratio()));
  if (c.sft().steps() < 0 || c.grpo().steps() < 0)
    return absl::InvalidArgumentError("sft.steps and grpo.steps must be >= 0");
  if (absl::Status s = validateHfAndJsonl(c); !s.ok())
    return s;
  return validateGrpoExtras(c);
}

absl::StatusOr<TrainConfig>
parseTrainConfig(const std::string &text, const std::string &source,
                 const std::vector<std::string> &overrides,
                 const FlagValues &flags) {
  TrainConfig config;
  if (auto s = parseInto(text, source, config); !s.ok())
    return s;
  for (size_t i = 0; i < overrides.size(); ++i)
    if (auto s = parseInto(overrides[i], absl::StrCat("--set #", i + 1), config); !s.ok())
      return s;
  if (flags.mode)
    config.set_mode(*flags.mode);
  if (flags.device)
    config.set_device(*flags.device);
  if (flags.precision)
    config.set_precision(*flags.precision);
  if (flags.outputDir) {
    if (flags.outputDir->empty())
      return absl::InvalidArgumentError("--output-dir needs a folder name");
    config.set_output_dir(*flags.outputDir);
  }
  if (auto s = applyPreset(config); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  if (auto s = validateTrainConfig(config); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
  return config;
}

absl::StatusOr<TrainConfig>
loadTrainConfig(const std::string &path,
                const std::vector<std::string> &overrides,
                const FlagValues &flags) {
  // An ifstream opens a folder and reads nothing from it: the defaults would
  // train as if the file were empty.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return absl::InvalidArgumentError(absl::StrCat(
        "configuration '", path, "' is a folder, not a textproto file"));
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read configuration '", path,
                                            "': ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat("error reading configuration '",
                                            path, "': ", std::strerror(errno)));
  return parseTrainConfig(text.str(), path, overrides, flags);
}

} // namespace kiln::train
