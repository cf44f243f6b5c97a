//===- AutoPrecision.cpp - the cheapest precision mix under a budget ------===//

#include "models/precision/AutoPrecision.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "executor/StatusMacros.h"

namespace kiln::models {

namespace {

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

} // namespace

int64_t bytesSavedAgainstBf16(const std::vector<int64_t> &shape,
                              const std::string &precision, int64_t block) {
  if (shape.size() != 2 || precision == "bf16")
    return 0;
  int64_t rows = shape[0], k = shape[1], values = rows * k;
  int64_t narrow = 0;
  if (precision == "fp8")
    narrow = values + 4 * ceilDiv(rows, block) * ceilDiv(k, block);
  else if (precision == "int4")
    narrow = ceilDiv(values, 2) + 4 * rows * ceilDiv(k, block);
  else
    return 0;
  return 2 * values - narrow;
}

double TensorPrecision::error() const {
  return chosen == "fp8" ? fp8Error : chosen == "int4" ? int4Error : 0;
}

int64_t TensorPrecision::bytesSaved() const {
  return chosen == "fp8" ? fp8Saved : chosen == "int4" ? int4Saved : 0;
}

std::string TensorPrecision::scaleScheme() const {
  if (chosen == "fp8")
    return "e4m3, 128x128 weight blocks, 1x128 activation tiles";
  if (chosen == "int4")
    return "int4, groups of 128 along K";
  return "none";
}

std::string AutoPrecisionResult::assignment() const {
  std::vector<std::string> entries;
  for (const TensorPrecision &t : tensors)
    if (t.chosen != "bf16")
      entries.push_back(t.weight + "=" + t.chosen);
  return entries.empty() ? "bf16" : absl::StrJoin(entries, ",");
}

int64_t AutoPrecisionResult::bytesSaved() const {
  int64_t saved = 0;
  for (const TensorPrecision &t : tensors)
    saved += t.bytesSaved();
  return saved;
}

std::string AutoPrecisionResult::table() const {
  size_t width = 6;
  for (const TensorPrecision &t : tensors)
    width = std::max(width, t.weight.size());
  std::string out = absl::StrFormat(
      "%-*s  %-9s  %-6s  %-10s  %-10s  %-11s  %s\n", width, "weight", "shape",
      "chosen", "error fp8", "error int4", "bytes saved", "scale scheme");
  for (const TensorPrecision &t : tensors)
    out += absl::StrFormat("%-*s  %-9s  %-6s  %-10.3g  %-10.3g  %-11d  %s\n",
                           width, t.weight, absl::StrJoin(t.shape, "x"),
                           t.chosen, t.fp8Error, t.int4Error, t.bytesSaved(),
                           t.scaleScheme());
  out += absl::StrFormat(
      "budget %.3g: measured error %.3g (calibration), %.3g (held out); "
      "%d bytes saved against bf16 (%d runs of the instrumented graph)\n",
      budget, calibrationError, heldOutError, bytesSaved(), measurements);
  return out;
}

absl::StatusOr<AutoPrecisionResult>
chooseAutoPrecision(PrecisionCalibration &calibration, double budget) {
  if (!(budget >= 0) || std::isinf(budget))
    return absl::InvalidArgumentError(absl::StrCat(
        "the precision budget must be a finite relative error >= 0, got ",
        budget));
  AutoPrecisionResult result;
  result.budget = budget;
  const std::vector<std::string> &values = calibration.values();
  auto offers = [&](const std::string &type) {
    return std::find(values.begin(), values.end(), type) != values.end();
  };
  // Each candidate alone, in each narrow type the graph computes.
  std::map<std::string, std::string> mix;
  for (size_t i = 0; i < calibration.weights().size(); ++i) {
    TensorPrecision t;
    t.weight = calibration.weights()[i];
    t.shape = calibration.shape(i);
    for (const char *type : {"fp8", "int4"}) {
      if (!offers(type))
        continue;
      KILN_ASSIGN_OR_RETURN(double e, calibration.error({{t.weight, type}}));
      ++result.measurements;
      (std::string(type) == "fp8" ? t.fp8Error : t.int4Error) = e;
      (std::string(type) == "fp8" ? t.fp8Saved : t.int4Saved) =
          bytesSavedAgainstBf16(t.shape, type);
    }
    result.tensors.push_back(t);
  }

  // Every (tensor, type) offer, best bytes per unit error first (an offer
  // that changes nothing is free).
  struct Offer {
    size_t tensor;
    std::string type;
    int64_t saved;
    double error;
  };
  std::vector<Offer> offersList;
  for (size_t i = 0; i < result.tensors.size(); ++i) {
    const TensorPrecision &t = result.tensors[i];
    if (offers("fp8") && t.fp8Saved > 0)
      offersList.push_back({i, "fp8", t.fp8Saved, t.fp8Error});
    if (offers("int4") && t.int4Saved > 0)
      offersList.push_back({i, "int4", t.int4Saved, t.int4Error});
  }
  auto ratio = [](const Offer &o) {
    return o.error > 0 ? o.saved / o.error
                       : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(offersList.begin(), offersList.end(),
                   [&](const Offer &a, const Offer &b) {
                     double ra = ratio(a), rb = ratio(b);
                     return ra != rb ? ra > rb : a.saved > b.saved;
                   });

  // Greedy: an offer joins when the mix, measured, stays within budget.
  // Joined offers are kept in order, with what they replaced, so the
  // held-out check can undo the last ones.
  struct Joined {
    size_t tensor;
    std::string previous;
  };
  std::vector<Joined> joined;
  double mixError = 0;
  for (const Offer &o : offersList) {
    TensorPrecision &t = result.tensors[o.tensor];
    if (o.saved <= t.bytesSaved())
      continue;
    std::string previous = t.chosen;
    mix[t.weight] = o.type;
    KILN_ASSIGN_OR_RETURN(double e, calibration.error(mix));
    ++result.measurements;
    if (e <= budget) {
      joined.push_back({o.tensor, previous});
      t.chosen = o.type;
      mixError = e;
    } else if (previous == "bf16") {
      mix.erase(t.weight);
    } else {
      mix[t.weight] = previous;
    }
  }

  // The held-out batch must hold the budget too; back off until it does.
  KILN_ASSIGN_OR_RETURN(double heldOut, calibration.error(mix, true));
  ++result.measurements;
  while (heldOut > budget && !joined.empty()) {
    Joined last = joined.back();
    joined.pop_back();
    TensorPrecision &t = result.tensors[last.tensor];
    t.chosen = last.previous;
    if (last.previous == "bf16")
      mix.erase(t.weight);
    else
      mix[t.weight] = last.previous;
    KILN_ASSIGN_OR_RETURN(heldOut, calibration.error(mix, true));
    KILN_ASSIGN_OR_RETURN(mixError, calibration.error(mix));
    result.measurements += 2;
  }
  result.calibrationError = mixError;
  result.heldOutError = heldOut;
  return result;
}

} // namespace kiln::models
