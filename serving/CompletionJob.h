//===- CompletionJob.h - one API request's choices, in flight   -*- C++ -*-===//
//
// Between an HTTP handler and the engine: submits a request's n sequences,
// collects their tokens as text (stop strings, reasoning split, logprobs) and
// renders the OpenAI answer, whole or as server-sent events.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_COMPLETIONJOB_H
#define KILN_SERVING_COMPLETIONJOB_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "models/tokenizer/TextTokenizer.h"
#include "serving/ApiError.h"
#include "serving/Engine.h"
#include "serving/Metrics.h"
#include "serving/OpenAiRequest.h"
#include "serving/TextStream.h"

namespace kiln::serving {

/// What a job needs from the server, which outlives it.
struct JobContext {
  Engine &engine;
  const tokenizer::TextTokenizer &tokenizer;
  Metrics &metrics;
  std::string modelName;
  /// Whether chat completions split reasoning_content off (the template's).
  bool reasons = false;
};

class CompletionJob : public std::enable_shared_from_this<CompletionJob> {
public:
  /// `prompts` are the tokenized prompts, each with request.n choices
  /// (choice p * n + i is prompt p's i-th); `seed` the request's (choice j
  /// draws with seed + j); `constraint` (may be null) holds every choice's
  /// output.
  static std::shared_ptr<CompletionJob>
  create(const JobContext &context, CompletionRequest request,
         std::vector<std::vector<int64_t>> prompts, int64_t seed,
         std::shared_ptr<const TokenConstraint> constraint = nullptr);

  /// Queues the choices: 429 when the queue is full, 400 when the prompt
  /// does not fit.
  std::optional<ApiError> submit();
  /// Blocks until every choice ended; the JSON answer or a 5xx.
  std::variant<std::string, ApiError> wait();
  /// Whether every choice ended, waiting at most `timeout` for it.
  bool waitFor(std::chrono::milliseconds timeout);
  /// Streaming: blocks until there is something to send (at most `poll`),
  /// appends the events to `out`, and returns false after the last one
  /// ("data: [DONE]").
  bool nextEvents(std::string &out, std::chrono::milliseconds poll);
  /// Stops generating (a client that went away).
  void cancel();

  // Called by the choices' sinks on the engine thread.
  bool onToken(int64_t index, int64_t token, const TokenLogprob *logprob);
  void onFinish(int64_t index, Finish finish, const std::string &message);

private:
  struct LoggedToken {
    int64_t token;
    TokenLogprob logprob;
  };
  struct Choice {
    /// Index into prompts.
    size_t prompt = 0;
    std::unique_ptr<TextStream> stream;
    std::vector<int64_t> tokens;
    /// Streaming with return_token_ids: tokens already sent.
    size_t tokensSent = 0;
    std::vector<LoggedToken> logprobs;
    size_t logprobsSent = 0;
    std::optional<Finish> finish;
    std::string error;
    bool started = false, reported = false;
    std::chrono::steady_clock::time_point lastToken;
  };

  CompletionJob(const JobContext &context, CompletionRequest request,
                std::vector<std::vector<int64_t>> prompts, int64_t seed,
                std::shared_ptr<const TokenConstraint> constraint);
  const char *finishReason(const Choice &choice) const;
  std::string usageJson() const;
  std::string chunk(int64_t index, const std::string &choiceJson) const;

  JobContext context;
  bool allFinished() const;

  CompletionRequest request;
  std::vector<std::vector<int64_t>> prompts;
  int64_t seed;
  std::shared_ptr<const TokenConstraint> constraint;
  std::string id;
  int64_t created;
  std::chrono::steady_clock::time_point arrival;
  std::vector<SequenceId> ids;

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Choice> choices;
  bool dirty = false, doneSent = false;
  /// When nextEvents last produced output: idle streams send a comment now
  /// and then, which is how a server notices that a client went away.
  std::chrono::steady_clock::time_point lastEvent =
      std::chrono::steady_clock::now();
};

} // namespace kiln::serving

#endif // KILN_SERVING_COMPLETIONJOB_H
