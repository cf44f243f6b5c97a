//===- AutoPrecision.h - the cheapest mix under a budget ----*- C++ -*-===//
//
// The `auto` precision policy (issue 19): measure, on a calibration batch,
// each candidate weight's logits error when it alone is fp8 or int4, then
// pick the assignment that saves the most weight bytes while the measured
// error of the whole mix stays within a budget, and check it on held-out
// sequences. The result is an explicit assignment kiln-assign-precision
// takes (`--precision=WEIGHT=TYPE,...`) and a per-tensor table.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_PRECISION_AUTOPRECISION_H
#define KILN_MODELS_PRECISION_AUTOPRECISION_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/precision/PrecisionCalibration.h"

namespace kiln::models {

/// One candidate weight: what each narrow type costs alone and what was
/// chosen.
struct TensorPrecision {
  std::string weight;
  std::vector<int64_t> shape;
  /// "bf16" (kept as written), "fp8" or "int4".
  std::string chosen = "bf16";
  /// Relative logits error with this weight alone in fp8 / int4
  /// (calibration batch).
  double fp8Error = 0, int4Error = 0;
  /// Bytes saved against bf16 storage, scales included.
  int64_t fp8Saved = 0, int4Saved = 0;

  /// The chosen type's error alone (0 for bf16) and bytes saved.
  double error() const;
  int64_t bytesSaved() const;
  /// How the chosen type is scaled, e.g. "128x128 blocks".
  std::string scaleScheme() const;
};

struct AutoPrecisionResult {
  double budget = 0;
  std::vector<TensorPrecision> tensors;
  /// Measured error of the chosen mix on the calibration and held-out
  /// batches.
  double calibrationError = 0, heldOutError = 0;
  /// Runs of the instrumented graph the choice took.
  int64_t measurements = 0;

  /// "WEIGHT=TYPE,..." of every narrowed weight (kiln-assign-precision's
  /// assign entries, the pipeline's precision string), or "bf16" when none
  /// is.
  std::string assignment() const;
  int64_t bytesSaved() const;
  /// One row per candidate: chosen type, scale scheme, measured error,
  /// bytes saved; then the mix's measured errors.
  std::string table() const;
};

/// Bytes weight `shape` ([N, K], K the reduced axis) saves in `precision`
/// against bf16: fp8 one byte a value plus an f32 scale per `block` x
/// `block` block; int4 half a byte plus an f32 scale per `block` along K.
int64_t bytesSavedAgainstBf16(const std::vector<int64_t> &shape,
                              const std::string &precision,
                              int64_t block = 128);

/// Greedy by bytes saved per unit of error alone: each candidate choice in
/// turn joins the mix when the mix's measured calibration error stays within
/// `budget`; then, while the held-out error exceeds it, the last choices to
/// join are dropped again. A budget of 0 keeps everything that changes the
/// logits at all as written. Errors for a budget that is negative or not a
/// number.
absl::StatusOr<AutoPrecisionResult>
chooseAutoPrecision(PrecisionCalibration &calibration, double budget);

} // namespace kiln::models

#endif // KILN_MODELS_PRECISION_AUTOPRECISION_H
