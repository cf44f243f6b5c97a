//===- Trainer.h - the cold start and GRPO loops of kiln-train --*- C++ -*-===//
//
// The host side of training a reasoning model: builds token batches from task
// demonstrations (SFT), rolls out groups of completions with the compiled
// prefill/decode entries, scores them with rule-based rewards, turns rewards into
// group advantages and runs the compiled GRPO step. Needs only the executor and
// an Executable of ReasonerGraph's entries, never the compiler.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_TRAINER_H
#define KILN_MODELS_TRAIN_TRAINER_H

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "models/tasks/Problem.h"
#include "models/tasks/Rewards.h"
#include "models/train/TrainRanks.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

struct EvalResult {
  double accuracy = 0; // fraction of completions answering exactly
  double stdError =
      0; // sqrt(p (1 - p) / n); over problems' fractions with samples
  double formatRate = 0;    // fraction with exactly one think then one answer block
  double meanLength = 0;    // completion tokens
  double meanReward =
      0; // the weighted reward functions, as GRPO scores rollouts
  int64_t problems = 0;
  /// (k, unbiased pass@k over the problems) for each of eval.pass_at_k
  /// (default 1 and samples_per_problem when that is > 1; none with one
  /// greedy sample and no pass_at_k).
  std::vector<std::pair<int64_t, double>> passAtK;
};

/// Per-step lines for the terminal: a progress bar with rate and ETA where
/// stdout is a terminal, plain lines otherwise.
using ProgressFn = std::function<void(const std::string &phase, int64_t step, int64_t total,
                                      const std::string &summary)>;

/// Where a checkpoint says training stopped: the phase ("sft", "grpo" or
/// "done") and the steps of it already taken.
struct ResumePoint {
  std::string phase = "sft";
  int64_t step = 0;
  /// The index of the next GRPO training problem (dynamic sampling draws a
  /// varying number per step); absent in checkpoints of older versions.
  std::optional<uint64_t> promptCursor;
};

/// Reads the "phase", "step" and "prompt_cursor" metadata of the checkpoint
/// at `path` strictly: a phase kiln-train does not write, or a step or cursor
/// that is not a plain decimal count (a step within the configured steps of
/// its phase), is an error naming the file, the field and the value.
absl::StatusOr<ResumePoint>
parseResumePoint(const std::map<std::string, std::string> &metadata,
                 const std::string &path, const TrainConfig &config);

/// Whether dynamic sampling keeps a group: its completions differ in
/// `filterMetric`, "accuracy" (DAPO's default: a group all right or all
/// wrong teaches nothing, whatever its format rewards) or "reward" (the
/// weighted total).
bool groupHasSignal(const std::vector<models::tasks::RewardBreakdown> &scores,
                    const std::string &filterMetric);

/// The loss_scale of one of `microBatches` micro-batches holding
/// `microValidRows` of the batch's `validRows` real rows: with it the mean
/// of the micro-batches' gradients is the whole batch's. grpo and dr_grpo
/// divide by the rows of their batch, so each micro-batch weighs its share
/// of them (microBatches * microValidRows / validRows); dapo (normalised by
/// total_tokens) and bnpo (TRL's local token mean) take 1.
double microBatchLossScale(const std::string &lossType, int64_t microBatches,
                           double microValidRows, double validRows);

/// Reads a checkpoint that Trainer::saveCheckpoint wrote into `executor`:
/// every parameter, optimizer and other state entry strictly, the KV caches
/// (rollout scratch, sized by the per-rank batch, never saved) not at all,
/// so it loads on any number of ranks. Returns the metadata.
absl::StatusOr<std::map<std::string, std::string>>
loadTrainerCheckpoint(EntryRunner &executor, const std::string &path);

class Trainer {
public:
  /// `executor` (CPU or CUDA) runs ReasonerGraph's entries; `seqLen` and
  /// `promptLen` are the shapes they were compiled for. With several `ranks`
  /// the entries are compiled for that many data-parallel ranks
  /// (dataParallelShapes) and every rank runs the same loops: each rolls out
  /// and steps on its share of every global batch, the ranks agree on
  /// everything else (DistributedRollout.h), and rank 0 alone writes metrics
  /// and checkpoints.
  static absl::StatusOr<std::unique_ptr<Trainer>>
  create(const TrainConfig &config, EntryRunner &executor, int64_t seqLen,
         int64_t promptLen, TrainRanks ranks = TrainRanks());

  /// Metrics steps and the GRPO prompt stream continue from `point`
  /// (metrics.jsonl's step count does not restart at 0 after --resume, and
  /// the problems are those an uninterrupted run would draw; every other
  /// random choice follows from the step); call before running.
  void resumeFrom(const ResumePoint &point);

  /// A failure to write metrics (a full disk) saves a checkpoint first, then
  /// returns the error saying so.
  absl::Status runSft(int64_t firstStep = 0);
  /// From step 0, GRPO starts with fresh AdamW state, a new reference
  /// snapshot (beta > 0) and the start of the prompt stream; from a later
  /// step it keeps what the executor and resumeFrom restored.
  absl::Status runGrpo(int64_t firstStep = 0);
  /// Greedy completions of eval.problems problems of `split` (held-out by
  /// default; kTrain shows how well the policy does on what GRPO trains on),
  /// or eval.samples_per_problem samples of each at eval.temperature with
  /// pass@k, scored by the reward functions; the first `showSamples` are
  /// printed. A set stop flag ends it early with a Cancelled error.
  absl::StatusOr<EvalResult> evaluate(int64_t showSamples = 0,
                                      models::tasks::Split split = models::tasks::Split::kEval);
  /// Writes eval/accuracy, eval/format_rate and eval/pass@K to the metrics
  /// at the last logged step.
  absl::Status logEvaluation(const EvalResult &eval);

  void setProgress(ProgressFn fn) { progress = std::move(fn); }
  /// Set from a signal handler: the loops checkpoint and return at the next step.
  void setStopFlag(const std::atomic<bool> *flag) { stop = flag; }
  /// Saves parameters, optimizer state and the phase, step and GRPO prompt
  /// cursor as metadata: rank 0 writes, the other ranks wait for it, and a
  /// failure fails every rank. Nothing in it depends on the world size.
  /// Under several ranks every state tensor must first have the same bits
  /// on every rank (else an error names the first that differs), as every
  /// logged metric must at each step.
  absl::Status saveCheckpoint(const std::string &phase, int64_t step);

  /// The longest prompt and demonstration of the task, in tokens, for sizing.
  static absl::StatusOr<std::pair<int64_t, int64_t>> measure(const TrainConfig &config);

  ~Trainer();

private:
  Trainer(const TrainConfig &config, EntryRunner &executor, int64_t seqLen,
          int64_t promptLen, TrainRanks ranks);
  /// Whether the stop flag is set on any rank (every rank stops together).
  absl::StatusOr<bool> stopRequested() const;
  /// This rank's rows of a global batch (dimension 0).
  HostTensor rankRows(const HostTensor &global) const;
  /// GenerateOptions::lockstep for these ranks: null unless their entries
  /// exchange rows (expert parallelism).
  std::function<absl::StatusOr<bool>(bool)> decodeLockstep() const;
  absl::Status openMetrics();
  /// Under several ranks, an error naming the first of `scalars` (rates
  /// aside) whose bits differ between rank 0 and another rank; a collective.
  absl::Status checkRanksAgree(
      const std::vector<std::pair<std::string, double>> &scalars) const;
  /// Under several ranks, the number of state tensors a checkpoint holds
  /// (KV caches and derived state aside, sharded ones gathered) compared bit
  /// for bit with rank 0's, or an error naming the first that differs; a
  /// collective.
  absl::StatusOr<int64_t> checkStateAgrees() const;
  absl::Status logMetrics(int64_t step, const std::vector<std::pair<std::string, double>> &scalars);
  /// logMetrics; on failure, a checkpoint at (`phase`, `stepsDone`) and the
  /// error with what was saved.
  absl::Status
  logOrCheckpoint(const std::string &phase, int64_t stepsDone,
                  const std::vector<std::pair<std::string, double>> &scalars);

  struct Impl;
  std::unique_ptr<Impl> impl;
  TrainConfig config;
  EntryRunner &executor;
  int64_t seqLen, promptLen;
  ProgressFn progress;
  const std::atomic<bool> *stop = nullptr;
  TrainRanks ranks;
};

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_TRAINER_H
