//===- Trainer.cpp - the cold start and GRPO loops of kiln-train -----------===//

#include "models/train/Trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include <signal.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "executor/Checkpoint.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/Generate.h"
#include "models/grpo/Advantages.h"
#include "models/grpo/LrSchedule.h"
#include "models/grpo/Metrics.h"
#include "models/grpo/PassAtK.h"
#include "models/grpo/RewardShaping.h"
#include "models/tasks/ArithmeticTask.h"
#include "models/tasks/CompletionFormat.h"
#include "models/tasks/CountdownTask.h"
#include "models/tasks/JsonlTask.h"
#include "models/train/DistributedRollout.h"
#include "models/train/HfPolicy.h"
#include "models/train/PolicyText.h"
#include "models/train/ReasonerShapes.h"
#include "models/train/RewardFunctions.h"
#include "models/train/ServableExport.h"
#include "models/train/ZeroState.h"

namespace kiln::train {
namespace {

namespace tasks = models::tasks;

tasks::PromptTemplate promptTemplate(const TaskConfig &t) {
  if (t.prompt_template() == "r1_zero")
    return tasks::PromptTemplate::r1Zero();
  if (t.prompt_template() == "compact")
    return tasks::PromptTemplate::compact();
  return tasks::PromptTemplate::bare();
}

absl::StatusOr<std::unique_ptr<tasks::Task>> makeTask(const TrainConfig &config) {
  const TaskConfig &t = config.task();
  if (t.name() == "arithmetic") {
    tasks::ArithmeticConfig c;
    c.minDigits = c.maxDigits = static_cast<int>(t.digits());
    c.ops = t.ops();
    c.allowNegative = false;
    c.prompt = promptTemplate(t);
    KILN_ASSIGN_OR_RETURN(tasks::ArithmeticTask task, tasks::ArithmeticTask::create(c));
    return std::unique_ptr<tasks::Task>(new tasks::ArithmeticTask(std::move(task)));
  }
  if (t.name() == "jsonl") {
    const JsonlTaskConfig &j = t.jsonl();
    tasks::JsonlOptions o;
    o.promptField = j.prompt_field();
    o.answerField = j.answer_field();
    o.numbersField = j.numbers_field();
    o.targetField = j.target_field();
    o.demonstrationField = j.demonstration_field();
    KILN_ASSIGN_OR_RETURN(o.reward, tasks::parseJsonlReward(j.reward()));
    o.evalFraction = j.eval_fraction();
    // Without a template of its own, a line's prompt is the question as the
    // file spells it (a chat template wraps it anyway).
    if (t.has_prompt_template())
      o.prompt = promptTemplate(t);
    KILN_ASSIGN_OR_RETURN(tasks::JsonlTask task,
                          tasks::JsonlTask::fromFile(j.path(), std::move(o)));
    return std::unique_ptr<tasks::Task>(new tasks::JsonlTask(std::move(task)));
  }
  tasks::CountdownConfig c;
  c.prompt = promptTemplate(t);
  c.allowSubset = t.countdown_allow_subsets();
  KILN_ASSIGN_OR_RETURN(tasks::CountdownTask task, tasks::CountdownTask::create(c));
  return std::unique_ptr<tasks::Task>(new tasks::CountdownTask(std::move(task)));
}

/// The reward's name: the task's, or a JSONL task's grading.
std::string rewardName(const TaskConfig &t) {
  return t.name() == "jsonl" ? t.jsonl().reward() : t.name();
}

/// Problems in `split` when the task has a fixed number (a JSONL file).
std::optional<uint64_t> finiteSize(const tasks::Task &task,
                                   tasks::Split split) {
  if (const auto *jsonl = dynamic_cast<const tasks::JsonlTask *>(&task))
    return jsonl->size(split);
  return std::nullopt;
}

/// A padded batch of next-token training rows: tokens[t] predicts targets[t];
/// mask marks the completion targets that count.
struct TokenRows {
  int64_t rows, seqLen;
  std::vector<int64_t> tokens, targets;
  std::vector<float> mask;
  TokenRows(int64_t rows, int64_t seqLen, int64_t pad)
      : rows(rows), seqLen(seqLen), tokens(rows * seqLen, pad),
        targets(rows * seqLen, pad), mask(rows * seqLen, 0.0f) {}

  /// Writes prompt + completion into row `r`; completion targets get mask 1
  /// unless `maskCompletion` is false. Returns the number of counted targets.
  int64_t set(int64_t r, const std::vector<int64_t> &prompt,
              const std::vector<int64_t> &completion, bool countCompletion) {
    std::vector<int64_t> all = prompt;
    all.insert(all.end(), completion.begin(), completion.end());
    int64_t n = std::min<int64_t>(all.size(), seqLen + 1), counted = 0;
    for (int64_t t = 0; t + 1 < n; ++t) {
      tokens[r * seqLen + t] = all[t];
      targets[r * seqLen + t] = all[t + 1];
      bool isCompletion = t + 1 >= static_cast<int64_t>(prompt.size());
      mask[r * seqLen + t] = isCompletion && countCompletion ? 1.0f : 0.0f;
      counted += isCompletion && countCompletion;
    }
    return counted;
  }

  std::vector<HostTensor> tensors() const {
    HostTensor t(proto::I64, {rows, seqLen}), y(proto::I64, {rows, seqLen}),
        m(proto::F32, {rows, seqLen});
    std::memcpy(t.data(), tokens.data(), t.byteSize());
    std::memcpy(y.data(), targets.data(), y.byteSize());
    std::memcpy(m.data(), mask.data(), m.byteSize());
    return {t, y, m};
  }
};

HostTensor scalarF32(double v) {
  HostTensor t(proto::F32, {});
  t.data<float>()[0] = static_cast<float>(v);
  return t;
}

double scalarOf(const HostTensor &t) { return t.toDoubles()[0]; }

/// Rows [begin, begin + count) of a tensor whose first dimension is rows.
HostTensor sliceRows(const HostTensor &t, int64_t begin, int64_t count) {
  std::vector<int64_t> shape = t.shape();
  const int64_t rowBytes = t.byteSize() / shape[0];
  shape[0] = count;
  HostTensor out(t.dtype(), shape);
  std::memcpy(out.data(),
              static_cast<const char *>(t.data()) + begin * rowBytes,
              count * rowBytes);
  return out;
}

/// The mean and the unbiased (n - 1) std of `values` (0 for fewer than 2).
std::pair<double, double> meanAndStd(const std::vector<double> &values) {
  if (values.empty())
    return {0, 0};
  double sum = 0;
  for (double v : values)
    sum += v;
  const double mean = sum / values.size();
  if (values.size() < 2)
    return {mean, 0};
  double squares = 0;
  for (double v : values)
    squares += (v - mean) * (v - mean);
  return {mean, std::sqrt(squares / (values.size() - 1))};
}

/// Linear warmup then cosine decay to a tenth of the peak.
double scheduledLr(double peak, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup)
    return peak * (step + 1) / std::max<int64_t>(warmup, 1);
  double progress = static_cast<double>(step - warmup) / std::max<int64_t>(total - warmup, 1);
  progress = std::min(progress, 1.0);
  return peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * progress)));
}

/// The first GRPO training problem: a stream disjoint from SFT's.
constexpr uint64_t kFirstGrpoProblem = uint64_t{1} << 30;

/// Removes `checkpoint.safetensors.tmp.<pid>` files left in `dir` by a run
/// that was killed mid-write; a temporary of a live process is kept.
void removeStaleTemporaries(const std::string &dir) {
  std::error_code ec;
  const std::string prefix = "checkpoint.safetensors.tmp.";
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0)
      continue;
    int64_t pid = 0;
    bool ours = absl::SimpleAtoi(name.substr(prefix.size()), &pid) && pid > 0;
    if (ours && pid <= INT32_MAX && ::kill(static_cast<pid_t>(pid), 0) == 0)
      continue; // a live writer
    std::filesystem::remove(entry.path(), ec);
  }
}

} // namespace

double microBatchLossScale(const std::string &lossType, int64_t microBatches,
                           double microValidRows, double validRows) {
  if (lossType != "grpo" && lossType != "dr_grpo")
    return 1.0;
  return static_cast<double>(microBatches) * microValidRows /
         std::max(validRows, 1.0);
}

bool groupHasSignal(const std::vector<tasks::RewardBreakdown> &scores,
                    const std::string &filterMetric) {
  bool accuracy = filterMetric == "accuracy";
  for (const tasks::RewardBreakdown &s : scores)
    if (accuracy ? s.accuracy != scores[0].accuracy
                 : s.total != scores[0].total)
      return true;
  return false;
}

absl::StatusOr<std::map<std::string, std::string>>
loadTrainerCheckpoint(EntryRunner &executor, const std::string &path) {
  CheckpointLoadOptions options;
  options.skipKinds = {"cache"};
  return loadCheckpoint(executor, path, options);
}

absl::StatusOr<ResumePoint>
parseResumePoint(const std::map<std::string, std::string> &metadata,
                 const std::string &path, const TrainConfig &config) {
  auto bad = [&](const std::string &field, const std::string &value,
                 const std::string &why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint '", path, "': metadata '", field, "' is \"",
        value.substr(0, 80), value.size() > 80 ? "..." : "", "\": ", why));
  };
  // Digits only: no sign, exponent, spaces or trailing text ("1e3" is not 1).
  auto isCount = [](const std::string &text) {
    return !text.empty() && text.size() <= 18 &&
           text.find_first_not_of("0123456789") == std::string::npos;
  };
  ResumePoint point;
  if (auto it = metadata.find("phase"); it != metadata.end()) {
    if (it->second != "sft" && it->second != "grpo" && it->second != "done")
      return bad("phase", it->second, "expected sft, grpo or done");
    point.phase = it->second;
  }
  if (auto it = metadata.find("step"); it != metadata.end()) {
    const std::string &text = it->second;
    if (!isCount(text))
      return bad("step", text, "expected a step count (decimal digits)");
    point.step = std::stoll(text);
    int64_t limit =
        point.phase == "sft" ? config.sft().steps() : config.grpo().steps();
    if (point.step > limit)
      return bad("step", text,
                 absl::StrCat("beyond the ", limit, " ",
                              point.phase == "sft" ? "sft" : "grpo",
                              " steps this configuration runs"));
  }
  if (auto it = metadata.find("prompt_cursor"); it != metadata.end()) {
    if (!isCount(it->second))
      return bad("prompt_cursor", it->second,
                 "expected a problem index (decimal digits)");
    point.promptCursor = std::stoull(it->second);
  }
  return point;
}

struct Trainer::Impl {
  std::optional<PolicyText> text;
  /// Set when the policy started from model.hf_checkpoint: it saves back
  /// into that layout.
  std::optional<HfPolicy> hfPolicy;
  std::unique_ptr<tasks::Task> task;
  tasks::RewardFn reward;
  std::optional<RewardFunctions> rewardFunctions;
  std::optional<models::JsonlWriter> jsonl;
  std::optional<models::TensorBoardWriter> tensorboard;
  int64_t globalStep = 0;
  /// The next GRPO training problem, advanced when a step's update is
  /// applied, so a checkpoint at any step boundary resumes the same stream.
  uint64_t promptCursor = kFirstGrpoProblem;
};

Trainer::Trainer(const TrainConfig &config, EntryRunner &executor,
                 int64_t seqLen, int64_t promptLen, TrainRanks ranks)
    : impl(std::make_unique<Impl>()), config(config), executor(executor),
      seqLen(seqLen), promptLen(promptLen), ranks(std::move(ranks)) {}

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>>
Trainer::create(const TrainConfig &config, EntryRunner &executor,
                int64_t seqLen, int64_t promptLen, TrainRanks ranks) {
  KILN_RETURN_IF_ERROR(checkDataParallel(config, ranks.size()));
  std::unique_ptr<Trainer> trainer(
      new Trainer(config, executor, seqLen, promptLen, std::move(ranks)));
  KILN_ASSIGN_OR_RETURN(trainer->impl->task, makeTask(config));
  KILN_ASSIGN_OR_RETURN(PolicyText text, PolicyText::create(config));
  trainer->impl->text.emplace(std::move(text));
  if (config.model().has_hf_checkpoint()) {
    // The pretrained weights replace the seed-initialised ones; --resume
    // then replaces them with its checkpoint's.
    KILN_ASSIGN_OR_RETURN(HfPolicy policy, HfPolicy::load(executor, config));
    trainer->impl->hfPolicy.emplace(std::move(policy));
  }
  tasks::RewardOptions options;
  options.countdownAllowSubset = config.task().countdown_allow_subsets();
  options.accuracyWeight = config.task().accuracy_weight();
  options.formatWeight = config.task().format_weight();
  const bool thinkOpened = trainer->impl->text->thinkOpenedInPrompt();
  options.format.thinkOpenedInPrompt = thinkOpened;
  KILN_ASSIGN_OR_RETURN(auto registry, tasks::defaultRewardRegistry(options));
  KILN_ASSIGN_OR_RETURN(trainer->impl->reward,
                        registry.find(rewardName(config.task())));
  trainer->impl->rewardFunctions.emplace(config, thinkOpened);
  // One writer of the output folder.
  if (trainer->ranks.isLeader())
    KILN_RETURN_IF_ERROR(trainer->openMetrics());
  return trainer;
}

absl::StatusOr<std::pair<int64_t, int64_t>> Trainer::measure(const TrainConfig &config) {
  KILN_ASSIGN_OR_RETURN(auto task, makeTask(config));
  KILN_ASSIGN_OR_RETURN(PolicyText text, PolicyText::create(config));
  int64_t prompt = 0, total = 0;
  for (auto split : {tasks::Split::kTrain, tasks::Split::kEval}) {
    // A file's every problem; a generator's first 2000.
    uint64_t count = finiteSize(*task, split).value_or(2000);
    for (uint64_t i = 0; i < count; ++i) {
      tasks::Problem p = task->generate(config.seed(), i, split);
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ids, text.promptIds(p));
      int64_t n = ids.size();
      prompt = std::max(prompt, n);
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> demo,
                            text.demonstrationIds(p));
      total = std::max<int64_t>(total, n + demo.size());
    }
  }
  return std::make_pair(prompt, total);
}

absl::Status Trainer::openMetrics() {
  std::error_code ec;
  std::filesystem::create_directories(config.output_dir(), ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create output folder '", config.output_dir(), "': ", ec.message()));
  removeStaleTemporaries(config.output_dir());
  KILN_ASSIGN_OR_RETURN(auto jsonl,
                        models::JsonlWriter::open(config.output_dir() + "/metrics.jsonl"));
  impl->jsonl.emplace(std::move(jsonl));
  KILN_ASSIGN_OR_RETURN(auto tb, models::TensorBoardWriter::open(config.output_dir() + "/tb"));
  impl->tensorboard.emplace(std::move(tb));
  return absl::OkStatus();
}

absl::Status Trainer::logMetrics(int64_t step,
                                 const std::vector<std::pair<std::string, double>> &scalars) {
  KILN_RETURN_IF_ERROR(checkRanksAgree(scalars));
  if (!ranks.isLeader())
    return absl::OkStatus(); // every rank has the same scalars; rank 0 logs
  KILN_RETURN_IF_ERROR(impl->jsonl->write(step, scalars));
  return impl->tensorboard->write(step, scalars);
}

absl::Status Trainer::checkRanksAgree(
    const std::vector<std::pair<std::string, double>> &scalars) const {
  if (ranks.size() == 1)
    return absl::OkStatus();
  // Rates are timed by each rank's clock; every other scalar is computed
  // from values the ranks exchanged, so it has the same bits everywhere.
  auto timed = [](const std::string &name) {
    return absl::EndsWith(name, "_per_second");
  };
  std::vector<uint64_t> words;
  std::vector<const std::pair<std::string, double> *> compared;
  for (const auto &scalar : scalars) {
    if (timed(scalar.first))
      continue;
    uint64_t word;
    std::memcpy(&word, &scalar.second, sizeof word);
    words.push_back(word);
    compared.push_back(&scalar);
  }
  KILN_ASSIGN_OR_RETURN(std::optional<TrainRanks::Mismatch> mismatch,
                        ranks.differFromLeader(words, "metrics check"));
  if (!mismatch)
    return absl::OkStatus();
  auto value = [](uint64_t word) {
    double v;
    std::memcpy(&v, &word, sizeof v);
    return v;
  };
  const std::string name =
      mismatch->index < static_cast<int64_t>(compared.size())
          ? compared[mismatch->index]->first
          : absl::StrCat("metric ", mismatch->index);
  return absl::InternalError(absl::StrFormat(
      "the ranks diverged: metric '%s' is %.17g on rank 0 but %.17g on rank "
      "%d (every rank must compute it from the same values)",
      name, value(mismatch->leaderWord), value(mismatch->theirWord),
      mismatch->rank));
}

absl::StatusOr<int64_t> Trainer::checkStateAgrees() const {
  if (ranks.size() == 1)
    return 0;
  // One FNV-1a of each state tensor's bytes: the replicated ones must be
  // the same bits on every rank, or rank 0's checkpoint would drop what the
  // others hold. The KV caches are each rank's rollout scratch, and derived
  // state (recomputed from its sources, a rank's own experts' included) is
  // not saved.
  std::vector<uint64_t> words;
  std::vector<std::string> names;
  for (const proto::StateEntry &e : executor.executable().state()) {
    if (e.kind() == "cache" || e.kind() == "derived")
      continue;
    absl::StatusOr<HostTensor> value = executor.getState(e.name());
    // Unset (no initializer, never written): nothing to save either.
    if (absl::IsFailedPrecondition(value.status()))
      continue;
    KILN_RETURN_IF_ERROR(value.status());
    uint64_t h = 1469598103934665603ull;
    const auto *bytes = static_cast<const unsigned char *>(value->data());
    for (int64_t i = 0; i < value->byteSize(); ++i)
      h = (h ^ bytes[i]) * 1099511628211ull;
    words.push_back(h);
    names.push_back(e.name());
  }
  KILN_ASSIGN_OR_RETURN(std::optional<TrainRanks::Mismatch> mismatch,
                        ranks.differFromLeader(words, "state check"));
  if (mismatch)
    return absl::InternalError(absl::StrCat(
        "the ranks diverged: state '",
        mismatch->index < static_cast<int64_t>(names.size())
            ? names[mismatch->index]
            : absl::StrCat("#", mismatch->index),
        "' differs between rank 0 and rank ", mismatch->rank,
        " (replicated state must stay the same bits on every rank)"));
  return static_cast<int64_t>(words.size());
}

absl::Status Trainer::logOrCheckpoint(
    const std::string &phase, int64_t stepsDone,
    const std::vector<std::pair<std::string, double>> &scalars) {
  absl::Status logged = logMetrics(impl->globalStep++, scalars);
  if (logged.ok())
    return logged;
  // The step's update is applied: keep it, then stop with the cause.
  absl::Status saved = saveCheckpoint(phase, stepsDone);
  return absl::Status(
      logged.code(),
      absl::StrCat(logged.message(),
                   saved.ok() ? absl::StrCat("; stopped with a checkpoint at ",
                                             phase, " step ", stepsDone,
                                             " (continue with --resume)")
                              : absl::StrCat("; the checkpoint failed too: ",
                                             saved.message())));
}

void Trainer::resumeFrom(const ResumePoint &point) {
  // One metrics step per SFT and per GRPO step, SFT first when the mode runs
  // it.
  bool sftRan = config.mode() != "grpo";
  // A finished run's step is the GRPO steps it ran, so a run resumed with
  // more grpo.steps numbers its further steps after them.
  impl->globalStep = point.phase == "sft"
                         ? point.step
                         : (sftRan ? config.sft().steps() : 0) + point.step;
  if (point.promptCursor)
    impl->promptCursor = *point.promptCursor;
}

absl::Status Trainer::saveCheckpoint(const std::string &phase, int64_t step) {
  auto write = [&]() -> absl::Status {
    std::string path = config.output_dir() + "/checkpoint.safetensors";
    // Without the KV caches: rollout scratch, sized by the per-rank batch.
    CheckpointSaveOptions options;
    options.skipKinds = {"cache"};
    KILN_RETURN_IF_ERROR(kiln::saveCheckpoint(
        executor, path,
        {{"phase", phase},
         {"step", std::to_string(step)},
         {"seed", std::to_string(config.seed())},
         {"prompt_cursor", std::to_string(impl->promptCursor)},
         {"config", config.ShortDebugString()}},
        options));
    // The policy as a model directory, so kiln-serve --model=OUT serves it
    // (and transformers loads one started from a Hugging Face checkpoint).
    if (impl->hfPolicy)
      return impl->hfPolicy->save(executor, config.output_dir());
    return writeServableModel(executor, config,
                              promptTemplate(config.task()).text);
  };
  // Under ZeRO-1 each rank holds a block of the optimizer state, under
  // expert parallelism its experts: every rank puts the blocks together
  // first, so the checkpoint holds whole tensors.
  auto *zero = dynamic_cast<ZeroStateView *>(&executor);
  if (zero)
    KILN_RETURN_IF_ERROR(ranks.agree(
        zero->gather(), "gathering the sharded state (ZeRO-1 or experts)"));
  // The averaged gradients keep every rank's state bit-identical, so rank
  // 0's is the whole checkpoint (checked first); the others wait here until
  // it is in place.
  absl::StatusOr<int64_t> agreed = checkStateAgrees();
  absl::Status saved =
      !agreed.ok() ? agreed.status()
                   : ranks.agree(ranks.isLeader() ? write() : absl::OkStatus(),
                                 "checkpoint");
  if (zero)
    zero->release();
  if (saved.ok() && ranks.size() > 1 && ranks.isLeader())
    std::printf("checkpoint at %s step %lld: %lld state tensors the same on "
                "all %d ranks\n",
                phase.c_str(), static_cast<long long>(step),
                static_cast<long long>(*agreed), ranks.size());
  return saved;
}

absl::StatusOr<bool> Trainer::stopRequested() const {
  return ranks.any(stop && stop->load(), "stop check");
}

std::function<absl::StatusOr<bool>(bool)> Trainer::decodeLockstep() const {
  // Plain data-parallel ranks decode alone; under expert parallelism every
  // MoE layer's all_to_all needs every rank, so each prefills and decodes
  // until the last rank's sequences end (its own finished rows idling).
  if (config.expert_parallel() <= 1 || ranks.size() == 1)
    return nullptr;
  return [this](bool mine) { return ranks.any(mine, "decode step"); };
}

HostTensor Trainer::rankRows(const HostTensor &global) const {
  if (ranks.size() == 1)
    return global;
  auto [begin, end] = ranks.share(global.dim(0));
  return sliceRows(global, begin, end - begin);
}

absl::Status Trainer::runSft(int64_t firstStep) {
  const SftConfig &sft = config.sft();
  const int64_t batch = sft.batch_size();
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = firstStep; step < sft.steps(); ++step) {
    KILN_ASSIGN_OR_RETURN(bool stopping, stopRequested());
    if (stopping)
      return saveCheckpoint("sft", step);
    TokenRows rows(batch, seqLen, impl->text->padId());
    int64_t counted = 0;
    for (int64_t r = 0; r < batch; ++r) {
      tasks::Problem p = impl->task->generate(config.seed(), step * batch + r);
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> completion,
                            impl->text->demonstrationIds(p));
      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> prompt,
                            impl->text->promptIds(p));
      counted += rows.set(r, prompt, completion, true);
    }
    // The global batch, of which each rank steps on its rows.
    std::vector<HostTensor> inputs;
    for (const HostTensor &t : rows.tensors())
      inputs.push_back(rankRows(t));
    double lr = scheduledLr(sft.learning_rate(), step, sft.warmup_steps(), sft.steps());
    inputs.push_back(scalarF32(lr));
    KILN_ASSIGN_OR_RETURN(auto out, executor.run("sft_step", inputs));
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double tokensPerSecond = counted * (step - firstStep + 1) / std::max(seconds, 1e-9);
    KILN_RETURN_IF_ERROR(
        logOrCheckpoint("sft", step + 1,
                        {{"sft/loss", scalarOf(out[0])},
                         {"sft/grad_norm", scalarOf(out[1])},
                         {"sft/lr", lr},
                         {"sft/tokens_per_second", tokensPerSecond}}));
    if (progress)
      progress("sft", step + 1, sft.steps(),
               absl::StrFormat("loss %.3f", scalarOf(out[0])));
    if (config.checkpoint().every() > 0 && (step + 1) % config.checkpoint().every() == 0)
      KILN_RETURN_IF_ERROR(saveCheckpoint("sft", step + 1));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Trainer::evaluate(int64_t showSamples, tasks::Split split) {
  const EvalConfig &e = config.eval();
  const int64_t samples = e.samples_per_problem();
  // A file's held-out lines, each once, when it has fewer.
  const int64_t n = std::min<int64_t>(
      e.problems(), finiteSize(*impl->task, split)
                        .value_or(std::numeric_limits<int64_t>::max()));
  std::vector<tasks::Problem> problems;
  std::vector<models::GenerationRequest> requests;
  // Each rank completes its share of the problems; all are gathered below.
  // Ranks stop only where they agree to, between steps, never mid-evaluation.
  const bool alone = ranks.size() == 1;
  const auto [firstMine, endMine] = ranks.share(n);
  for (int64_t i = 0; i < n; ++i) {
    if (alone && stop && stop->load() && i % 256 == 0)
      return absl::CancelledError("evaluation stopped on request");
    problems.push_back(impl->task->generate(config.seed(), i, split));
    if (i < firstMine || i >= endMine)
      continue;
    models::GenerationRequest request;
    KILN_ASSIGN_OR_RETURN(request.prompt,
                          impl->text->promptIds(problems.back()));
    request.maxNewTokens = config.grpo().max_new_tokens();
    if (samples == 1) {
      requests.push_back(std::move(request)); // greedy
      continue;
    }
    // The same seeds at every evaluation, so evaluations compare.
    request.sampling.temperature = static_cast<float>(e.temperature());
    for (int64_t k = 0; k < samples; ++k) {
      request.sampling.seed =
          static_cast<int64_t>(config.seed() * 7777777 + i * samples + k);
      requests.push_back(request);
    }
  }
  models::GenerateOptions options;
  options.eosId = impl->text->eosId();
  if (alone)
    options.stop = stop; // Ctrl-C ends a long evaluation promptly
  options.lockstep = decodeLockstep();
  KILN_ASSIGN_OR_RETURN(auto results, models::generate(executor, requests, options));
  std::vector<ScoredCompletion> mine;
  for (int64_t i = firstMine; i < endMine; ++i)
    for (int64_t k = 0; k < samples; ++k) {
      ScoredCompletion c;
      c.result = std::move(results[(i - firstMine) * samples + k]);
      KILN_ASSIGN_OR_RETURN(std::string text,
                            impl->text->completionText(c.result.tokens));
      c.score = impl->reward(problems[i], text);
      c.score.total = impl->rewardFunctions->total(
          c.score, impl->rewardFunctions->values(c.score, text));
      mine.push_back(std::move(c));
    }
  KILN_ASSIGN_OR_RETURN(std::vector<ScoredCompletion> scored,
                        gatherCompletions(ranks, mine, "evaluation"));
  EvalResult eval;
  eval.problems = n;
  std::vector<int64_t> correct(n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < samples; ++k) {
      const ScoredCompletion &c = scored[i * samples + k];
      const tasks::RewardBreakdown &r = c.score;
      if (i < showSamples && k == 0 && ranks.isLeader()) {
        KILN_ASSIGN_OR_RETURN(std::string text,
                              impl->text->completionText(c.result.tokens));
        KILN_ASSIGN_OR_RETURN(std::string prompt,
                              impl->text->promptText(problems[i]));
        std::printf("  sample %lld: %s%s  [reward %.2f]\n",
                    static_cast<long long>(i), prompt.c_str(), text.c_str(),
                    r.total);
      }
      correct[i] += r.accuracy > 0;
      eval.formatRate += r.format > 0;
      eval.meanLength += c.result.tokens.size();
      eval.meanReward += r.total;
    }
  const double completions = static_cast<double>(n * samples);
  for (int64_t c : correct)
    eval.accuracy += c;
  eval.meanReward /= completions;
  eval.accuracy /= completions;
  eval.formatRate /= completions;
  eval.meanLength /= completions;
  if (samples == 1) {
    eval.stdError = std::sqrt(eval.accuracy * (1 - eval.accuracy) / n);
  } else {
    // Over problems: each one's fraction of correct samples.
    double variance = 0;
    for (int64_t c : correct) {
      double d = static_cast<double>(c) / samples - eval.accuracy;
      variance += d * d;
    }
    eval.stdError = std::sqrt(variance / n / n);
  }
  std::vector<int64_t> ks(e.pass_at_k().begin(), e.pass_at_k().end());
  if (ks.empty() && samples > 1)
    ks = {1, samples};
  for (int64_t k : ks) {
    double total = 0;
    for (int64_t c : correct) {
      KILN_ASSIGN_OR_RETURN(double p, models::passAtK(samples, c, k));
      total += p;
    }
    eval.passAtK.push_back({k, total / n});
  }
  return eval;
}

absl::Status Trainer::logEvaluation(const EvalResult &eval) {
  std::vector<std::pair<std::string, double>> scalars{
      {"eval/accuracy", eval.accuracy}, {"eval/format_rate", eval.formatRate}};
  for (const auto &[k, value] : eval.passAtK)
    scalars.push_back({absl::StrCat("eval/pass@", k), value});
  return logMetrics(std::max<int64_t>(impl->globalStep - 1, 0), scalars);
}

absl::Status Trainer::runGrpo(int64_t firstStep) {
  const GrpoConfig &g = config.grpo();
  const int64_t groupSize = g.group_size(), prompts = g.prompts_per_step();
  const int64_t rowsPerStep = prompts * groupSize;
  KILN_ASSIGN_OR_RETURN(models::ScaleRewards scale,
                        models::parseScaleRewards(g.scale_rewards()));
  KILN_ASSIGN_OR_RETURN(models::LrSchedule schedule,
                        models::parseLrSchedule(g.lr_schedule()));
  models::LrScheduleOptions lrOptions;
  lrOptions.schedule = schedule;
  lrOptions.peakLr = g.learning_rate();
  lrOptions.warmupSteps = g.warmup_steps();
  lrOptions.totalSteps = g.steps() * g.mu();
  lrOptions.minLrRatio = g.min_lr_ratio();
  models::GenerateOptions genOptions;
  genOptions.eosId = impl->text->eosId();
  // Several ranks stop together between steps (stopRequested), never in
  // the middle of a rollout that the others go on to exchange.
  if (ranks.size() == 1)
    genOptions.stop = stop;
  genOptions.lockstep = decodeLockstep();
  const bool useReference = g.beta() > 0;
  const RewardFunctions &rewardFns = *impl->rewardFunctions;
  KILN_ASSIGN_OR_RETURN(models::KlEstimator klEstimator,
                        models::parseKlEstimator(g.kl_estimator()));
  const int64_t accumulation = g.gradient_accumulation_steps();
  // Each rank steps on its rows of the batch, in micro-batches of these.
  const int64_t microRows = rowsPerStep / ranks.size() / accumulation;
  if (firstStep == 0) {
    impl->promptCursor = kFirstGrpoProblem;
    KILN_RETURN_IF_ERROR(executor.run("reset_optimizer", {}).status());
    // The KL anchor is the policy GRPO starts from (the SFT policy, as in
    // DeepSeek-R1 and TRL). A resumed run keeps the reference its checkpoint
    // restored: snapshotting then would anchor to a policy GRPO already moved.
    if (useReference)
      KILN_RETURN_IF_ERROR(executor.run("snapshot_reference", {}).status());
  }
  // Periodic checkpoint and evaluation; the last step's evaluation is the
  // caller's (kiln-train evaluates after every phase).
  auto afterStep = [&](int64_t step) -> absl::Status {
    if (config.checkpoint().every() > 0 && (step + 1) % config.checkpoint().every() == 0)
      KILN_RETURN_IF_ERROR(saveCheckpoint("grpo", step + 1));
    if (config.eval().every() > 0 && (step + 1) % config.eval().every() == 0 &&
        step + 1 < g.steps()) {
      absl::StatusOr<EvalResult> eval = evaluate();
      // Stopped mid-evaluation: the step's update is kept by the caller's
      // checkpoint at the next stop check.
      if (absl::IsCancelled(eval.status()) && stop && stop->load())
        return absl::OkStatus();
      KILN_RETURN_IF_ERROR(eval.status());
      absl::Status logged = logEvaluation(*eval);
      if (!logged.ok()) {
        absl::Status saved = saveCheckpoint("grpo", step + 1);
        return absl::Status(logged.code(),
                            absl::StrCat(logged.message(),
                                         saved.ok()
                                             ? "; stopped with a checkpoint"
                                             : "; the checkpoint failed too"));
      }
    }
    return absl::OkStatus();
  };
  int64_t gaveUp = 0;
  auto start = std::chrono::steady_clock::now();
  for (int64_t step = firstStep; step < g.steps(); ++step) {
    KILN_ASSIGN_OR_RETURN(bool stopping, stopRequested());
    if (stopping)
      return saveCheckpoint("grpo", step);
    // Roll out groups; with dynamic sampling keep only groups whose
    // filter_metric differs, sampling further batches of prompts, up to
    // max_resample_rounds more, until the batch is full.
    struct Group {
      tasks::Problem problem;
      std::vector<int64_t> promptIds;
      std::vector<models::GenerationResult> completions;
      std::vector<double> rewards;
      std::vector<tasks::RewardBreakdown> scores;
    };
    std::vector<Group> kept;
    std::vector<double> scoredRewards, overlongPenalties;
    // Each reward function's values over every scored completion.
    std::vector<std::vector<double>> funcValues(rewardFns.names().size());
    double accuracySum = 0, formatSum = 0, lengthSum = 0;
    int64_t zeroVarianceGroups = 0, drawnGroups = 0, rounds = 0;
    // Committed to impl->promptCursor only once the step is applied.
    uint64_t cursor = impl->promptCursor;
    const int64_t maxRounds =
        g.dynamic_sampling() ? g.max_resample_rounds() + 1 : 1;
    for (int64_t round = 0;
         round < maxRounds && static_cast<int64_t>(kept.size()) < prompts;
         ++round) {
      ++rounds;
      std::vector<Group> groups(prompts);
      std::vector<models::GenerationRequest> requests;
      // This rank rolls out its share of the prompts, every sample of each;
      // the seeds are of the global prompt and sample, not of the rank.
      const auto [firstMine, endMine] = ranks.share(prompts);
      for (int64_t p = 0; p < prompts; ++p) {
        uint64_t index = cursor++;
        if (g.prompt_pool() > 0)
          index =
              kFirstGrpoProblem + (index - kFirstGrpoProblem) % g.prompt_pool();
        groups[p].problem = impl->task->generate(config.seed(), index);
        KILN_ASSIGN_OR_RETURN(groups[p].promptIds,
                              impl->text->promptIds(groups[p].problem));
        if (p < firstMine || p >= endMine)
          continue;
        for (int64_t k = 0; k < groupSize; ++k) {
          models::GenerationRequest request;
          request.prompt = groups[p].promptIds;
          request.maxNewTokens = g.max_new_tokens();
          request.sampling.temperature = static_cast<float>(g.temperature());
          request.sampling.topP = static_cast<float>(g.top_p());
          request.sampling.topK = g.top_k();
          request.sampling.minP = static_cast<float>(g.min_p());
          request.sampling.seed =
              static_cast<int64_t>(config.seed() * 1000003 + step * 7919 + round * 131 +
                                   p * groupSize + k);
          requests.push_back(std::move(request));
        }
      }
      absl::StatusOr<std::vector<models::GenerationResult>> generated =
          models::generate(executor, requests, genOptions);
      // Stopped mid-rollout: this step has changed nothing yet.
      if (absl::IsCancelled(generated.status()) && stop && stop->load())
        return saveCheckpoint("grpo", step);
      KILN_ASSIGN_OR_RETURN(auto results, std::move(generated));
      std::vector<ScoredCompletion> mine;
      for (int64_t p = firstMine; p < endMine; ++p)
        for (int64_t k = 0; k < groupSize; ++k) {
          ScoredCompletion c;
          c.result = std::move(results[(p - firstMine) * groupSize + k]);
          const models::GenerationResult &res = c.result;
          KILN_ASSIGN_OR_RETURN(std::string text, impl->text->completionText(res.tokens));
          tasks::RewardBreakdown r = impl->reward(groups[p].problem, text);
          c.functionValues = rewardFns.values(r, text);
          // The weighted functions plus DAPO's overlong shaping: what
          // advantages and the "reward" filter see.
          r.total = rewardFns.total(r, c.functionValues);
          if (g.overlong_buffer_len() > 0) {
            c.overlongPenalty = models::overlongPenalty(
                static_cast<int64_t>(res.tokens.size()), g.max_new_tokens(),
                g.overlong_buffer_len(), g.overlong_penalty_factor());
            r.total += c.overlongPenalty;
          }
          c.score = r;
          mine.push_back(std::move(c));
        }
      // Every rank's groups, so every rank keeps the same ones.
      KILN_ASSIGN_OR_RETURN(std::vector<ScoredCompletion> scored,
                            gatherCompletions(ranks, mine, "rollouts"));
      for (int64_t p = 0; p < prompts; ++p) {
        Group &group = groups[p];
        for (int64_t k = 0; k < groupSize; ++k) {
          ScoredCompletion &c = scored[p * groupSize + k];
          const tasks::RewardBreakdown &r = c.score;
          for (size_t f = 0; f < c.functionValues.size(); ++f)
            funcValues[f].push_back(c.functionValues[f]);
          if (g.overlong_buffer_len() > 0)
            overlongPenalties.push_back(c.overlongPenalty);
          lengthSum += c.result.tokens.size();
          group.rewards.push_back(r.total);
          group.scores.push_back(r);
          group.completions.push_back(std::move(c.result));
          scoredRewards.push_back(r.total);
          accuracySum += r.accuracy > 0;
          formatSum += r.format > 0;
        }
        ++drawnGroups;
        zeroVarianceGroups += !groupHasSignal(group.scores, "reward");
        bool keep = !g.dynamic_sampling() ||
                    groupHasSignal(group.scores, g.filter_metric());
        if (keep && static_cast<int64_t>(kept.size()) < prompts)
          kept.push_back(std::move(group));
      }
    }
    const bool filled = static_cast<int64_t>(kept.size()) == prompts;
    if (!filled) {
      // verl stops with an error here; a small run had better train on what
      // it kept, but never silently.
      if (gaveUp++ == 0 && ranks.isLeader())
        std::fprintf(stderr,
                     "grpo step %lld: dynamic sampling kept %zu of %lld groups "
                     "after %lld batches (grpo.max_resample_rounds %lld) and "
                     "trains on those; grpo/batch_filled counts such steps\n",
                     static_cast<long long>(step + 1), kept.size(),
                     static_cast<long long>(prompts),
                     static_cast<long long>(rounds),
                     static_cast<long long>(g.max_resample_rounds()));
    }
    const double n = std::max<double>(scoredRewards.size(), 1);
    double rewardSum = 0;
    for (double r : scoredRewards)
      rewardSum += r;
    const double mean = rewardSum / n;
    KILN_ASSIGN_OR_RETURN(
        models::Advantages drawn,
        models::computeAdvantages(scoredRewards, groupSize, scale));
    std::vector<std::pair<std::string, double>> scalars{
        {"grpo/reward_mean", mean},
        {"grpo/reward_std", models::rewardStd(drawn, scale)},
        {"grpo/accuracy", accuracySum / n},
        {"grpo/format_rate", formatSum / n},
        {"grpo/completion_length", lengthSum / n},
        {"grpo/zero_variance_fraction",
         static_cast<double>(zeroVarianceGroups) /
             std::max<int64_t>(drawnGroups, 1)},
        {"grpo/kept_groups", static_cast<double>(kept.size())},
        {"grpo/batch_filled", filled ? 1.0 : 0.0},
        {"grpo/generation_batches", static_cast<double>(rounds)}};
    // TRL's rewards/NAME/mean and /std (the unbiased std, as torch's).
    for (size_t f = 0; f < funcValues.size(); ++f) {
      auto [fMean, fStd] = meanAndStd(funcValues[f]);
      scalars.push_back(
          {"grpo/rewards/" + rewardFns.names()[f] + "/mean", fMean});
      scalars.push_back(
          {"grpo/rewards/" + rewardFns.names()[f] + "/std", fStd});
    }
    if (g.overlong_buffer_len() > 0)
      scalars.push_back(
          {"grpo/overlong_penalty_mean", meanAndStd(overlongPenalties).first});

    if (kept.empty()) {
      // Nothing to learn from this batch, but the step still counts for
      // checkpoints and periodic evaluation.
      impl->promptCursor = cursor;
      KILN_RETURN_IF_ERROR(logOrCheckpoint("grpo", step + 1, scalars));
      if (progress)
        progress("grpo", step + 1, g.steps(), "every group flat, no update");
      KILN_RETURN_IF_ERROR(afterStep(step));
      continue;
    }
    // Rows of groups that could not be filled stay masked out.
    // The graph turns rewards into advantages (models/grpo/GroupAdvantages.h).
    TokenRows rows(rowsPerStep, seqLen, impl->text->padId());
    HostTensor rewardRows(proto::F32, {rowsPerStep}), rowValid(proto::F32, {rowsPerStep});
    int64_t counted = 0, truncated = 0;
    for (size_t p = 0; p < kept.size(); ++p)
      for (int64_t k = 0; k < groupSize; ++k) {
        int64_t r = p * groupSize + k;
        const models::GenerationResult &res = kept[p].completions[k];
        // A truncated completion carries no judged answer: DAPO's overlong
        // filtering leaves it out of the loss.
        bool complete = res.finishReason != models::FinishReason::length;
        truncated += !complete;
        counted += rows.set(r, kept[p].promptIds, res.tokens,
                            complete || !g.mask_truncated_completions());
        rewardRows.data<float>()[r] = static_cast<float>(kept[p].rewards[k]);
        rowValid.data<float>()[r] = 1.0f;
      }
    // From here on this rank's rows of the batch (tokens, targets, mask, and
    // what the entries compute from them); rewardRows and rowValid stay
    // global, as every rank has them.
    std::vector<HostTensor> tensors;
    for (const HostTensor &t : rows.tensors())
      tensors.push_back(rankRows(t));
    KILN_ASSIGN_OR_RETURN(auto oldLogp, executor.run("logprobs", {tensors[0], tensors[1]}));
    std::vector<HostTensor> refLogp;
    if (useReference) {
      KILN_ASSIGN_OR_RETURN(refLogp, executor.run("ref_logprobs", {tensors[0], tensors[1]}));
    }
    int64_t validRows = 0;
    for (int64_t r = 0; r < rowsPerStep; ++r)
      validRows += rowValid.data<float>()[r] != 0;
    if (g.kl_in_reward() && counted > 0) {
      // verl's apply_kl_penalty: each completion's reward loses beta times
      // its summed token KL under the rollout policy, before advantages.
      auto span = [](const HostTensor &t) {
        return absl::MakeConstSpan(t.data<float>(), t.numElements());
      };
      KILN_ASSIGN_OR_RETURN(
          std::vector<double> kl,
          models::sequenceKl(span(oldLogp[0]), span(refLogp[0]),
                             span(tensors[2]), seqLen, klEstimator));
      if (ranks.size() > 1) {
        // Every rank's rows: each adds its own into zeros (exact).
        std::vector<double> all(rowsPerStep, 0.0);
        const int64_t begin = ranks.share(rowsPerStep).first;
        std::copy(kl.begin(), kl.end(), all.begin() + begin);
        KILN_ASSIGN_OR_RETURN(kl, ranks.sum(all, "sequence KL"));
      }
      double klSum = 0, penaltySum = 0;
      for (int64_t r = 0; r < rowsPerStep; ++r) {
        if (rowValid.data<float>()[r] == 0)
          continue;
        float &reward = rewardRows.data<float>()[r];
        reward = static_cast<float>(reward - g.beta() * kl[r]);
        klSum += kl[r];
        penaltySum += g.beta() * kl[r];
      }
      scalars.push_back({"grpo/kl", klSum / static_cast<double>(counted)});
      scalars.push_back({"grpo/kl_penalty_mean",
                         penaltySum / std::max<int64_t>(validRows, 1)});
    }
    const bool refInLoss = useReference && !g.kl_in_reward();
    const bool takesTotalTokens = g.loss_type() == "dapo";
    // This rank's rows of the rewards, and its share of the batch's tokens
    // and rows: how much its metrics weigh in the batch's.
    const HostTensor myRewards = rankRows(rewardRows);
    const HostTensor myValid = rankRows(rowValid);
    double myTokens = 0, myRows = 0;
    for (int64_t i = 0; i < tensors[2].numElements(); ++i)
      myTokens += tensors[2].data<float>()[i];
    for (int64_t i = 0; i < myValid.numElements(); ++i)
      myRows += myValid.data<float>()[i];
    // The data-parallel step averages the ranks' gradients: dapo's
    // normaliser is the batch's tokens over the terms averaged.
    const double ranksAveraged = static_cast<double>(ranks.size());
    HostTensor advantages;
    if (accumulation > 1 && counted > 0) {
      // Advantages of the whole batch, shared by its micro-batches.
      KILN_ASSIGN_OR_RETURN(
          auto out,
          executor.runNamed("grpo_advantages",
                            {{"rewards", myRewards}, {"row_valid", myValid}}));
      advantages = out.at("advantages");
    }
    // Every update's metrics, averaged: the KL and clip fractions of the
    // later updates are the ones that move.
    models::ScalarMeans updates;
    for (int64_t update = 0; update < g.mu() && counted > 0; ++update) {
      double lr =
          models::scheduledLearningRate(lrOptions, step * g.mu() + update);
      updates.add("lr", lr);
      if (accumulation == 1) {
        std::map<std::string, HostTensor> inputs{
            {"tokens", tensors[0]}, {"targets", tensors[1]},
            {"mask", tensors[2]},   {"old_logp", oldLogp[0]},
            {"rewards", myRewards}, {"row_valid", myValid},
            {"lr", scalarF32(lr)}};
        if (refInLoss)
          inputs["ref_logp"] = refLogp[0];
        if (takesTotalTokens)
          inputs["total_tokens"] =
              scalarF32(static_cast<double>(counted) / ranksAveraged);
        KILN_ASSIGN_OR_RETURN(auto out, executor.runNamed("grpo_step", inputs));
        std::map<std::string, double> metrics;
        for (auto &[name, value] : out)
          metrics[name] = scalarOf(value);
        if (ranks.size() > 1) {
          // Token means weigh by this rank's tokens, the advantages' mean by
          // its rows; the loss and the gradient norm are the batch's.
          for (auto &[name, value] : metrics)
            if (name == "advantage_abs_mean")
              value *= myRows / std::max<double>(validRows, 1);
            else if (name != "loss" && name != "grad_norm")
              value *= myTokens / std::max<double>(counted, 1);
          KILN_ASSIGN_OR_RETURN(
              metrics,
              combineUpdateMetrics(ranks, metrics, {"loss", "grad_norm"}));
        }
        for (auto &[name, value] : metrics)
          updates.add(name, value);
      } else {
        // Micro-batches: the gradients' mean is the whole batch's gradient
        // (loss_scale and total_tokens make it so); the metrics combine as
        // the whole batch's would: token means weighted by tokens.
        std::map<std::string, double> metrics;
        double lossSum = 0;
        for (int64_t m = 0; m < accumulation; ++m) {
          const int64_t begin = m * microRows;
          double microTokens = 0, microValid = 0;
          for (int64_t r = begin; r < begin + microRows; ++r) {
            microValid += myValid.data<float>()[r];
            for (int64_t t = 0; t < seqLen; ++t)
              microTokens += tensors[2].data<float>()[r * seqLen + t];
          }
          // Every rank's micro-batches are averaged alike.
          double lossScale =
              microBatchLossScale(g.loss_type(), accumulation * ranks.size(),
                                  microValid, static_cast<double>(validRows));
          std::map<std::string, HostTensor> inputs{
              {"tokens", sliceRows(tensors[0], begin, microRows)},
              {"targets", sliceRows(tensors[1], begin, microRows)},
              {"mask", sliceRows(tensors[2], begin, microRows)},
              {"old_logp", sliceRows(oldLogp[0], begin, microRows)},
              {"advantages", sliceRows(advantages, begin, microRows)},
              {"row_valid", sliceRows(myValid, begin, microRows)},
              {"loss_scale", scalarF32(lossScale)}};
          if (refInLoss)
            inputs["ref_logp"] = sliceRows(refLogp[0], begin, microRows);
          if (takesTotalTokens)
            inputs["total_tokens"] =
                scalarF32(static_cast<double>(counted) /
                          static_cast<double>(accumulation) / ranksAveraged);
          const bool last = m + 1 == accumulation;
          if (last)
            inputs["lr"] = scalarF32(lr);
          KILN_ASSIGN_OR_RETURN(
              auto out,
              executor.runNamed(last ? "grpo_micro_step" : "grpo_accumulate",
                                inputs));
          for (auto &[name, value] : out) {
            if (name == "loss")
              lossSum += scalarOf(value);
            else if (name == "grad_norm")
              metrics[name] = scalarOf(value);
            else if (name != "advantage_abs_mean")
              metrics[name] += scalarOf(value) * microTokens;
          }
        }
        for (auto &[name, value] : metrics)
          if (name != "grad_norm")
            value /= static_cast<double>(counted);
        metrics["loss"] = lossSum / static_cast<double>(accumulation);
        double absSum = 0;
        for (int64_t r = 0; r < advantages.numElements(); ++r)
          absSum += std::abs(advantages.getDouble(r));
        metrics["advantage_abs_mean"] =
            absSum / std::max<int64_t>(validRows, 1);
        if (ranks.size() > 1) {
          // Each rank's sums are over its rows, divided by the batch's
          // counts already: shares of the batch's means.
          KILN_ASSIGN_OR_RETURN(
              metrics,
              combineUpdateMetrics(ranks, metrics, {"loss", "grad_norm"}));
        }
        for (auto &[name, value] : metrics)
          updates.add(name, value);
      }
      // TRL's SyncRefModelCallback, after every ref_model_sync_steps
      // optimizer updates (counted as the schedule counts them).
      const int64_t updatesDone = step * g.mu() + update + 1;
      if (g.sync_ref_model() && updatesDone % g.ref_model_sync_steps() == 0)
        KILN_RETURN_IF_ERROR(
            executor
                .run("sync_reference", {scalarF32(g.ref_model_mixup_alpha())})
                .status());
    }
    impl->promptCursor = cursor;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    scalars.push_back(
        {"grpo/truncated_fraction",
         static_cast<double>(truncated) / std::max<int64_t>(rowsPerStep, 1)});
    scalars.push_back(
        {"grpo/tokens_per_second",
         lengthSum * (step - firstStep + 1) / std::max(seconds, 1e-9)});
    std::map<std::string, double> averaged;
    for (const auto &[name, value] : updates.means()) {
      scalars.push_back({"grpo/" + name, value});
      averaged[name] = value;
    }
    KILN_RETURN_IF_ERROR(logOrCheckpoint("grpo", step + 1, scalars));
    if (progress)
      progress("grpo", step + 1, g.steps(),
               absl::StrFormat("reward %.3f acc %.2f kept %d", mean,
                               accuracySum / n, static_cast<int>(kept.size())) +
                   (useReference && averaged.count("kl")
                        ? absl::StrFormat(" kl %.4f", averaged["kl"])
                        : std::string()));
    KILN_RETURN_IF_ERROR(afterStep(step));
  }
  if (gaveUp > 1)
    std::fprintf(
        stderr,
        "grpo: dynamic sampling could not fill the batch on %lld of %lld "
        "steps\n",
        static_cast<long long>(gaveUp),
        static_cast<long long>(g.steps() - firstStep));
  return absl::OkStatus();
}

} // namespace kiln::train
