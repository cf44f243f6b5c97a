//===- PrecisionCalibration.h - one graph, any weight mix ---*- C++ -*-===//
//
// The auto precision policy's measuring instrument: the DeepSeek model's
// logits over a calibration batch and a held-out batch, compiled once with
// kiln-instrument-precision (precision "instrument"), so any assignment of
// bf16 / fp8 / int4 to the candidate weights is one run with a different
// precision_switch input, and its error is measured against all switches
// off.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_PRECISION_PRECISIONCALIBRATION_H
#define KILN_MODELS_PRECISION_PRECISIONCALIBRATION_H

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "frontend/Tensor.h"
#include "models/deepseek/DeepseekConfig.h"

namespace kiln::models {

/// Token id sequences; each is scored at its own positions only.
using TokenBatch = std::vector<std::vector<int64_t>>;

struct CalibrationSetup {
  DeepseekV3Config config;
  /// The model's parameter and activation dtype.
  DType dtype = DType::f32;
  /// Seeds the parameters' initialisers (before loadWeights).
  int64_t seed = 0;
  /// Loads the weights into the compiled graph's state (a checkpoint); null
  /// keeps the seed-initialised ones.
  std::function<absl::Status(EntryRunner &)> loadWeights;
  /// Parameter name patterns that are no candidate (empty: the passes'
  /// defaults, embedding, output head and router).
  std::vector<std::string> keep;
  /// Fills the rows and positions past each sequence (never scored).
  int64_t padId = 0;
};

class PrecisionCalibration {
public:
  /// Compiles the instrumented logits graph for both batches (one shape:
  /// the larger row count and the longest sequence) on the host target and
  /// runs both with every switch off, the reference.
  static absl::StatusOr<std::unique_ptr<PrecisionCalibration>>
  create(const CalibrationSetup &setup, const TokenBatch &calibration,
         const TokenBatch &heldOut);

  /// The candidate weights, in switch order.
  const std::vector<std::string> &weights() const { return weights_; }
  /// What each switch value means ("bf16", "fp8", "int4").
  const std::vector<std::string> &values() const { return values_; }
  /// The candidate's stored shape (its state entry's).
  const std::vector<int64_t> &shape(size_t candidate) const {
    return shapes_[candidate];
  }

  /// Relative logits error ||y - y_ref|| / ||y_ref|| over the scored
  /// positions of the calibration (or held-out) batch, each weight in the
  /// precision `assignment` names (weights it omits stay as written).
  absl::StatusOr<double>
  error(const std::map<std::string, std::string> &assignment,
        bool heldOut = false);

  /// The logits [rows, length, vocab] under `switches` (one value per
  /// candidate, values() indices), for tests that compare graphs.
  absl::StatusOr<std::vector<double>> logits(const std::vector<float> &switches,
                                             bool heldOut = false);

  /// The padded input_ids of a batch, as the graph takes them.
  HostTensor inputIds(bool heldOut) const;

private:
  PrecisionCalibration() = default;

  std::unique_ptr<EntryRunner> runner_;
  std::vector<std::string> weights_, values_;
  std::vector<std::vector<int64_t>> shapes_;
  std::string switchInput_;
  int64_t rows_ = 0, length_ = 0, vocab_ = 0, padId_ = 0;
  TokenBatch batches_[2];
  std::vector<double> reference_[2];
};

} // namespace kiln::models

#endif // KILN_MODELS_PRECISION_PRECISIONCALIBRATION_H
