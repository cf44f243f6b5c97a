//===- CalibrationPrompts.h - token batches to calibrate on -*- C++ -*-===//
//
// What the auto precision policy measures on when serving: the user's
// prompts (a file, one a line) or a built-in set, each rendered by the
// model's chat template as a request would be and encoded by its tokenizer,
// alternately into a calibration and a held-out batch.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_PRECISION_CALIBRATIONPROMPTS_H
#define KILN_MODELS_PRECISION_CALIBRATIONPROMPTS_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/deepseek/HfModelDir.h"
#include "models/precision/PrecisionCalibration.h"

namespace kiln::models {

/// The built-in prompts: short arithmetic questions (kiln-train's task) and
/// plain chat, for a model that brings no calibration file.
const std::vector<std::string> &defaultCalibrationPrompts();

/// The non-empty lines of `path`; an error names the file when it cannot be
/// read or holds fewer than two prompts.
absl::StatusOr<std::vector<std::string>>
readCalibrationPrompts(const std::string &path);

struct CalibrationBatches {
  TokenBatch calibration, heldOut;
};

/// Prompt i as the user message of a chat (the model's template, when it
/// has one), encoded and cut to `maxTokens`; even i calibrate, odd i are
/// held out.
absl::StatusOr<CalibrationBatches>
encodeCalibrationPrompts(const HfModelDir &dir,
                         const std::vector<std::string> &prompts,
                         int64_t maxTokens);

} // namespace kiln::models

#endif // KILN_MODELS_PRECISION_CALIBRATIONPROMPTS_H
