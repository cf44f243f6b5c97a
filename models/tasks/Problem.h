//===- Problem.h - a prompt with a verifiable answer ------------*- C++ -*-===//
//
// What every reasoning task hands to SFT and GRPO: the rendered prompt, the
// reference answer, a worked demonstration, and the exact facts a rule-based
// reward checks a completion against.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_MODELS_TASKS_PROBLEM_H
#define KILN_MODELS_TASKS_PROBLEM_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "models/tasks/TaskSplit.h"

namespace kiln::models::tasks {

struct Problem {
  /// The task that made it ("arithmetic", "countdown"): also the name of its
  /// reward in the default registry.
  std::string task;
  /// The bare question ("123+45=?"), before the template wraps it.
  std::string question;
  /// The template applied to the question: what the model is conditioned on.
  std::string prompt;
  /// The reference answer text: the integer, or a Countdown expression.
  std::string answer;
  /// "<think>...</think><answer>...</answer>" for supervised warm-up.
  std::string demonstration;
  /// Arithmetic: the two operands. Countdown: the numbers that may be used.
  std::vector<int64_t> numbers;
  /// The exact value a correct answer has.
  int64_t target = 0;
  /// Identity for the train/eval split (commutations and orderings folded).
  std::string canonicalKey;
};

/// The text around a question, with "{question}" where it goes. The presets
/// differ only in length: the R1-Zero preamble for large models, a one-line
/// one for small models that learn in minutes on a CPU.
struct PromptTemplate {
  std::string text;

  /// DeepSeek-R1-Zero's template (its "prompt" replaced by the question).
  static PromptTemplate r1Zero();
  /// The same instruction in one short line; the default.
  static PromptTemplate compact();
  /// Only "Q: ... A: " - for models that learn the format from demonstrations.
  static PromptTemplate bare();

  /// Fails unless "{question}" occurs exactly once.
  absl::Status validate() const;
  std::string render(std::string_view question) const;
};

/// A generator of problems. generate() is a pure function of its arguments.
class Task {
public:
  virtual ~Task() = default;
  virtual std::string_view name() const = 0;
  /// Problem `index` of `split` in the stream named by `seed`. Training and
  /// evaluation problems never share a canonical key, whatever the seeds.
  virtual Problem generate(uint64_t seed, uint64_t index,
                           Split split = Split::kTrain) const = 0;
};

} // namespace kiln::models::tasks

#endif // KILN_MODELS_TASKS_PROBLEM_H
