//===- TrainConfig.h - reading and checking kiln-train's configuration -*- C++ -*-===//
//
// A run's configuration is a textproto of kiln.train.TrainConfig (the schema in
// train_config.proto documents every field) plus --set overrides merged on top;
// both are parsed strictly and checked, so a typo is an error naming the field.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TRAIN_TRAINCONFIG_H
#define KILN_MODELS_TRAIN_TRAINCONFIG_H

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/train/train_config.pb.h"

namespace kiln::train {

/// Values of kiln-train's --mode, --device and --output-dir flags. They are
/// assigned to their fields, never spliced into textproto (where a quote in a
/// path would inject fields).
struct FlagValues {
  std::optional<std::string> mode, device, outputDir, precision;
};

/// Parses `text` (named `source` in errors), merges each override in order,
/// assigns `flags`, and validates the result. An empty `text` gives the
/// defaults.
absl::StatusOr<TrainConfig>
parseTrainConfig(const std::string &text, const std::string &source,
                 const std::vector<std::string> &overrides = {},
                 const FlagValues &flags = {});

/// Reads `path` and parses it as above; a missing file, a folder or a read
/// error is an error naming it.
absl::StatusOr<TrainConfig>
loadTrainConfig(const std::string &path,
                const std::vector<std::string> &overrides = {},
                const FlagValues &flags = {});

/// Checks values a schema cannot: every floating-point field finite, sizes
/// positive and at most 2^31 (so products of two fit int64), enum-like
/// strings, ranges.
absl::Status validateTrainConfig(const TrainConfig &config);

} // namespace kiln::train

#endif // KILN_MODELS_TRAIN_TRAINCONFIG_H
