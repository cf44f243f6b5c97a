//===- Engine.h - continuous batching over a compiled decode entry -*- C++
//-*-===//
//
// The serving engine: a fixed batch of slots (one KV-cache row each), a FIFO of
// waiting sequences, and one thread that runs the decode entry step after step.
// Sequences join free slots and leave between steps; a joining sequence's
// prompt is fed through the same step as everyone's decoding, so every row of
// every step runs the same computation and a sequence's tokens depend only on
// its own prompt, parameters and seed (batch invariance).
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_ENGINE_H
#define KILN_SERVING_ENGINE_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "executor/EntryRunner.h"
#include "serving/Metrics.h"
#include "serving/Sequence.h"
#include "serving/SlotPool.h"

namespace kiln::serving {

struct EngineOptions {
  /// Sequences that may wait for a slot; beyond, submit is ResourceExhausted.
  int64_t maxWaiting = 256;
  /// Ends a sequence (finish eos) when generated.
  std::optional<int64_t> eosId;
  Metrics *metrics = nullptr;
};

using SequenceId = int64_t;

class Engine {
public:
  /// Reads the slot count and context length from `runner`'s "decode" entry
  /// and cache state (models/deepseek/InferenceNames.h) and starts the step
  /// thread. `runner` must outlive the engine and is used by it alone.
  static absl::StatusOr<std::unique_ptr<Engine>> create(EntryRunner &runner,
                                                        EngineOptions options);
  ~Engine();

  /// Queues the sequences together (all or none): InvalidArgument when a
  /// prompt is empty or longer than the context, or a constraint does not fit
  /// the entries, ResourceExhausted when the queue cannot take them all. Ids
  /// come back in order.
  absl::StatusOr<std::vector<SequenceId>>
  submit(std::vector<SequenceRequest> requests);
  /// Ends the sequence (Finish::cancelled) before the next step; unknown or
  /// finished ids are ignored.
  void cancel(SequenceId id);

  int64_t slots() const { return numSlots; }
  int64_t contextLength() const { return maxLen; }
  /// The logits' width: token ids are below it.
  int64_t vocabSize() const { return vocab; }
  /// Prompt tokens per chunked prefill; 0 when prompts go through decode.
  int64_t prefillChunk() const { return chunk; }
  /// Whether the compiled entries take a logit mask, which constrained
  /// sequences need (models/deepseek/InferenceNames.h's kLogitMask).
  bool takesLogitMask() const { return masks; }
  int64_t waiting() const;
  int64_t running() const;

private:
  struct Slot {
    SequenceId id = -1;
    SequenceRequest request;
    std::vector<int64_t> generated;
    /// Index of the token the next step feeds (prompt, then generated).
    int64_t position = 0;
    /// Set by accept() when the sequence ends at this step.
    std::optional<Finish> done;
    /// Its constraint's state (request.constraint), after the generated
    /// tokens.
    int32_t constraintState = 0;
    /// Why, when done is Finish::error.
    std::string doneMessage;
  };
  struct Waiting {
    SequenceId id;
    SequenceRequest request;
  };

  Engine(EntryRunner &runner, EngineOptions options, int64_t slots,
         int64_t maxLen, int64_t vocab, int64_t chunk, bool masks);
  void loop();
  /// Under the lock: drops cancelled sequences and fills free slots. Returns
  /// the sinks to tell of cancellation (called outside the lock).
  std::vector<std::shared_ptr<SequenceSink>> admit();
  absl::Status step();
  /// The next chunk of slot `s`'s prompt.
  absl::Status prefillChunk(int64_t s);
  /// One decode step; rows[i] is the slot of batch row i, or -1 for idle.
  absl::Status decode(const std::vector<int64_t> &rows);
  /// Moves each row's slot `fed` positions on and takes the sampled token of
  /// those whose prompt is done.
  absl::Status advance(const char *entry,
                       const std::map<std::string, HostTensor> &results,
                       const std::vector<int64_t> &rows, int64_t fed);
  /// The sampling inputs for batch rows holding slots `rows` (-1: idle),
  /// the logit mask of constrained rows included.
  std::map<std::string, HostTensor>
  samplingInputs(const std::vector<int64_t> &rows) const;
  /// Runs after a step for a slot whose output is a generated token; sets
  /// slot.done when the sequence ends there.
  void accept(Slot &slot, int64_t token, const float *logits, int64_t vocab);
  /// Moves a constrained slot past `token`; the finish when it ends there.
  std::optional<Finish> constrain(Slot &slot, int64_t token,
                                  std::string &message);
  void finish(int64_t slotIndex, Finish finish, const std::string &message);

  EntryRunner &runner;
  EngineOptions options;
  const int64_t numSlots, maxLen, vocab, chunk;
  /// Whether the entries take the logit mask (constrained decoding).
  const bool masks;

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<Waiting> queue;
  std::set<SequenceId> cancelled;
  int64_t runningCount = 0;
  SequenceId nextId = 0;
  bool stopping = false;

  // Owned by the step thread.
  std::vector<std::optional<Slot>> table;
  SlotPool pool;
  std::thread thread;
};

} // namespace kiln::serving

#endif // KILN_SERVING_ENGINE_H
