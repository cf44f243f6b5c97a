//===- DistributedRollout.cpp - rollouts split over data-parallel ranks ---===//

#include "models/train/DistributedRollout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::train {
namespace {

void write(ByteWriter &out, const ScoredCompletion &c) {
  out.putInts(c.result.tokens);
  out.putInt(static_cast<int64_t>(c.result.finishReason));
  out.putDouble(c.score.accuracy);
  out.putDouble(c.score.format);
  out.putDouble(c.score.total);
  out.putInt(static_cast<int64_t>(c.functionValues.size()));
  for (double v : c.functionValues)
    out.putDouble(v);
  out.putDouble(c.overlongPenalty);
}

absl::StatusOr<ScoredCompletion> read(ByteReader &in) {
  ScoredCompletion c;
  absl::StatusOr<std::vector<int64_t>> tokens = in.getInts();
  absl::StatusOr<int64_t> reason = in.getInt();
  absl::StatusOr<double> accuracy = in.getDouble();
  absl::StatusOr<double> format = in.getDouble();
  absl::StatusOr<double> total = in.getDouble();
  absl::StatusOr<int64_t> functions = in.getInt();
  for (const absl::Status &s :
       {tokens.status(), reason.status(), accuracy.status(), format.status(),
        total.status(), functions.status()})
    if (!s.ok())
      return s;
  if (*reason < 0 ||
      *reason > static_cast<int64_t>(models::FinishReason::length))
    return absl::DataLossError(absl::StrCat("finish reason ", *reason));
  c.result.tokens = std::move(*tokens);
  c.result.finishReason = static_cast<models::FinishReason>(*reason);
  c.score.accuracy = *accuracy;
  c.score.format = *format;
  c.score.total = *total;
  for (int64_t f = 0; f < *functions; ++f) {
    absl::StatusOr<double> v = in.getDouble();
    if (!v.ok())
      return v.status();
    c.functionValues.push_back(*v);
  }
  absl::StatusOr<double> penalty = in.getDouble();
  if (!penalty.ok())
    return penalty.status();
  c.overlongPenalty = *penalty;
  return c;
}

} // namespace

absl::StatusOr<std::vector<ScoredCompletion>>
gatherCompletions(const TrainRanks &ranks,
                  const std::vector<ScoredCompletion> &mine,
                  const std::string &what) {
  if (ranks.size() == 1)
    return mine;
  ByteWriter out;
  out.putInt(static_cast<int64_t>(mine.size()));
  for (const ScoredCompletion &c : mine)
    write(out, c);
  absl::StatusOr<std::vector<std::string>> all =
      ranks.allGather(out.bytes(), what);
  if (!all.ok())
    return all.status();
  std::vector<ScoredCompletion> gathered;
  for (int r = 0; r < ranks.size(); ++r) {
    ByteReader in((*all)[r]);
    auto malformed = [&](const absl::Status &s) {
      return absl::DataLossError(absl::StrCat("kiln-train ", what, ": rank ", r,
                                              "'s completions: ", s.message()));
    };
    absl::StatusOr<int64_t> count = in.getInt();
    if (!count.ok())
      return malformed(count.status());
    for (int64_t i = 0; i < *count; ++i) {
      absl::StatusOr<ScoredCompletion> c = read(in);
      if (!c.ok())
        return malformed(c.status());
      gathered.push_back(std::move(*c));
    }
    if (!in.done())
      return malformed(absl::DataLossError("bytes past the last completion"));
  }
  return gathered;
}

absl::StatusOr<std::map<std::string, double>>
combineUpdateMetrics(const TrainRanks &ranks,
                     const std::map<std::string, double> &partials,
                     const std::vector<std::string> &global) {
  if (ranks.size() == 1)
    return partials;
  auto isGlobal = [&](const std::string &name) {
    return std::find(global.begin(), global.end(), name) != global.end();
  };
  // Every rank's step returns the same outputs, so the maps share an order.
  std::vector<double> values;
  for (const auto &[name, value] : partials)
    values.push_back(isGlobal(name) ? 0.0 : value);
  absl::StatusOr<std::vector<double>> summed =
      ranks.sum(values, "update metrics");
  if (!summed.ok())
    return summed.status();
  std::map<std::string, double> combined;
  size_t i = 0;
  for (const auto &[name, value] : partials) {
    combined[name] = isGlobal(name) ? value : (*summed)[i];
    ++i;
  }
  return combined;
}

} // namespace kiln::train
