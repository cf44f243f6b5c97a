//===- DistributedRollout.h - rollouts split over data-parallel ranks -*- C++
//-*-===//
//
// Under data parallelism each rank generates and scores the completions of
// its share of the global batch's prompts (every sample of a prompt on one
// rank, so a group never straddles two), then every rank gathers every
// rank's scored completions. From there each rank holds the global batch a
// single process would have rolled out (the sampling seeds are keyed by the
// global prompt and sample index, never by rank), so dynamic sampling, the
// batch fill, advantages and metrics are decided the same way everywhere.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_DISTRIBUTEDROLLOUT_H
#define KILN_MODELS_TRAIN_DISTRIBUTEDROLLOUT_H

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/deepseek/Generate.h"
#include "models/tasks/Rewards.h"
#include "models/train/TrainRanks.h"

namespace kiln::train {

/// One completion as the host loops use it once scored.
struct ScoredCompletion {
  /// Tokens and finish reason (the text is rebuilt from the tokens).
  models::GenerationResult result;
  /// Accuracy, format, and the total that advantages and the "reward" filter
  /// see (the weighted reward functions plus any overlong penalty).
  models::tasks::RewardBreakdown score;
  /// Each reward function's value (RewardFunctions::names() order).
  std::vector<double> functionValues;
  /// DAPO's overlong penalty included in score.total (0 when off).
  double overlongPenalty = 0;
};

/// Every rank's `mine`, concatenated in rank order: with contiguous shares
/// (TrainRanks::share) the completions of the whole batch in its order.
/// `what` names the exchange in errors.
absl::StatusOr<std::vector<ScoredCompletion>>
gatherCompletions(const TrainRanks &ranks,
                  const std::vector<ScoredCompletion> &mine,
                  const std::string &what);

/// The metrics of one GRPO update on every rank, combined over the ranks as
/// one process over the whole batch would report them: entries of
/// `partials` are this rank's shares of a global mean (its local mean times
/// its weight over the global weight) and are summed over the ranks; the
/// entries named in `global` are the same on every rank already (the loss
/// the data-parallel step averages, the norm of the averaged gradient) and
/// are kept.
absl::StatusOr<std::map<std::string, double>>
combineUpdateMetrics(const TrainRanks &ranks,
                     const std::map<std::string, double> &partials,
                     const std::vector<std::string> &global);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_DISTRIBUTEDROLLOUT_H
