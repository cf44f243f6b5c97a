//===- CalibrationPrompts.cpp - token batches to calibrate precision on ---===//

#include "models/precision/CalibrationPrompts.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"

namespace kiln::models {

const std::vector<std::string> &defaultCalibrationPrompts() {
  static const std::vector<std::string> prompts = {
      "What is 12 + 34?",
      "What is 57 + 26?",
      "Compute 9 * 8 and explain each step.",
      "What is 103 - 47?",
      "Write a short sentence about the sea.",
      "Name three colours and one fruit.",
      "If a train leaves at 3 and arrives at 7, how long is the trip?",
      "Summarise: the cat sat on the mat because it was warm.",
  };
  return prompts;
}

absl::StatusOr<std::vector<std::string>>
readCalibrationPrompts(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot read calibration prompts '", path, "'"));
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);)
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      prompts.push_back(line);
  if (prompts.size() < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration prompts '", path, "' hold ", prompts.size(),
        " non-empty lines; need at least 2 (one calibrates, one is held "
        "out)"));
  return prompts;
}

absl::StatusOr<CalibrationBatches>
encodeCalibrationPrompts(const HfModelDir &dir,
                         const std::vector<std::string> &prompts,
                         int64_t maxTokens) {
  if (prompts.size() < 2 || maxTokens < 1)
    return absl::InvalidArgumentError(
        "precision calibration needs at least 2 prompts and 1 token each");
  CalibrationBatches out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string text = prompts[i];
    if (dir.chatTemplate) {
      KILN_ASSIGN_OR_RETURN(text,
                            dir.chatTemplate->render({{"user", prompts[i]}}));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                          dir.tokenizer->encode(text));
    if (ids.empty())
      return absl::InvalidArgumentError(
          absl::StrCat("calibration prompt ", i + 1, " encodes to no tokens"));
    if (static_cast<int64_t>(ids.size()) > maxTokens)
      ids.resize(maxTokens);
    (i % 2 ? out.heldOut : out.calibration).push_back(std::move(ids));
  }
  return out;
}

} // namespace kiln::models
