//===- Sequence.h - one generated sequence as the engine sees it -*- C++
//-*-===//
//
// What a caller hands the engine per sequence (prompt ids, sampling controls,
// a sink for its tokens) and what the engine reports back. Token-level only:
// text, stop strings and the API's formats live with the caller.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_SEQUENCE_H
#define KILN_SERVING_SEQUENCE_H

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::serving {

class TokenConstraint;

/// Per-sequence controls, fed to the decode entry's sampling inputs.
struct SamplingParams {
  /// <= 0: greedy.
  float temperature = 1;
  /// <= 0: off.
  int64_t topK = 0;
  /// >= 1: off.
  float topP = 1;
  /// With the index of the generated token, the only randomness: a sequence's
  /// tokens are a function of its prompt, parameters and seed.
  int64_t seed = 0;
  /// Generated tokens at most (the context may end it earlier).
  int64_t maxTokens = 16;
  /// -1: no log-probabilities; k >= 0: the chosen token's and the k most
  /// likely tokens' (computed from the model's logits on the host).
  int64_t topLogprobs = -1;
};

struct TokenLogprob {
  float logprob = 0;
  /// The most likely tokens, descending (ties: lower id first).
  std::vector<std::pair<int64_t, float>> top;
};

enum class Finish { eos, stop, length, cancelled, error };

/// Receives one sequence's tokens, on the engine's thread (keep it short).
class SequenceSink {
public:
  virtual ~SequenceSink() = default;
  /// A generated token (the EOS included); `logprob` is null unless asked
  /// for. Returning false ends the sequence with Finish::stop.
  virtual bool onToken(int64_t token, const TokenLogprob *logprob) = 0;
  /// Called exactly once, last. `message` explains Finish::error.
  virtual void onFinish(Finish finish, const std::string &message) = 0;
};

struct SequenceRequest {
  std::vector<int64_t> prompt;
  SamplingParams sampling;
  std::shared_ptr<SequenceSink> sink;
  /// Null: unconstrained. Else only tokens it allows are sampled, and the
  /// sequence ends (Finish::stop) once its text is complete.
  std::shared_ptr<const TokenConstraint> constraint;
  /// Generation goes on past the EOS token (benchmarks need fixed lengths).
  bool ignoreEos = false;
};

} // namespace kiln::serving

#endif // KILN_SERVING_SEQUENCE_H
