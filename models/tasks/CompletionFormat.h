//===- CompletionFormat.h - the <think>/<answer> shape ----------*- C++ -*-===//
//
// DeepSeek-R1's format rule: one <think>...</think> block, then one
// <answer>...</answer> block, nothing else but whitespace around them; and
// the extraction of the answer that the accuracy rewards check.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_COMPLETIONFORMAT_H
#define KILN_MODELS_TASKS_COMPLETIONFORMAT_H

#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::models::tasks {

/// What the format rule tolerates. The defaults are the strict rule; every
/// relaxation still demands exactly one think block before exactly one answer
/// block and no tag inside either.
struct FormatOptions {
  /// The prompt already ends with "<think>": the completion starts inside
  /// the think block and must not open another.
  bool thinkOpenedInPrompt = false;
  /// Non-whitespace text before <think>, between </think> and <answer>, or
  /// after </answer>.
  bool allowTextBefore = false;
  bool allowTextBetween = false;
  bool allowTextAfter = false;
  bool allowEmptyThink = true;
  bool allowEmptyAnswer = false;

  static FormatOptions strict() { return {}; }
  /// Stray text around the blocks is tolerated; their number and order not.
  static FormatOptions lenient();
};

/// OK when `completion` has the shape; otherwise what is wrong with it.
absl::Status checkFormat(std::string_view completion,
                         const FormatOptions &options = {});

/// The text between the only <answer> and the only </answer>, which must be
/// the last two tags of the completion and not inside an unclosed <think>
/// (two answers, or an answer while thinking, give none). Independent of the
/// format options, so a policy cannot hedge with several answers even when the
/// format is not rewarded.
absl::StatusOr<std::string_view> extractAnswer(std::string_view completion);

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_COMPLETIONFORMAT_H
