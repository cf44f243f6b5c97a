//===- Engine.cpp - continuous batching over a compiled decode entry ------===//
//
// A step feeds each occupied slot one token at its own cache position: the
// next prompt token while the prompt lasts, then the token sampled last. Idle
// slots sit one past the cache, where the decode entry writes nothing. The
// position counting and the stop rules follow models::generate, so a sequence
// gets the tokens offline generation gives it.
//
//===----------------------------------------------------------------------===//

#include "serving/Engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/InferenceNames.h"
#include "models/serve/ServeNames.h"
#include "serving/TokenMasks.h"

namespace kiln::serving {

namespace names = models::inference;
namespace serve = models::serve;

namespace {

const char *finishName(Finish finish) {
  switch (finish) {
  case Finish::eos:
    return "eos";
  case Finish::stop:
    return "stop";
  case Finish::length:
    return "length";
  case Finish::cancelled:
    return "cancelled";
  case Finish::error:
    return "error";
  }
  return "?";
}

/// log-softmax of one logits row at `token`, and the k best, from doubles so
/// that the numbers do not depend on the row's neighbours.
TokenLogprob logprobsOf(const float *logits, int64_t vocab, int64_t token,
                        int64_t k) {
  double top = *std::max_element(logits, logits + vocab), sum = 0;
  for (int64_t v = 0; v < vocab; ++v)
    sum += std::exp(static_cast<double>(logits[v]) - top);
  double logZ = top + std::log(sum);
  TokenLogprob out;
  out.logprob = static_cast<float>(logits[token] - logZ);
  std::vector<int64_t> order(vocab);
  for (int64_t v = 0; v < vocab; ++v)
    order[v] = v;
  k = std::min(k, vocab);
  std::partial_sort(
      order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
  for (int64_t i = 0; i < k; ++i)
    out.top.push_back({order[i], static_cast<float>(logits[order[i]] - logZ)});
  return out;
}

} // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::create(EntryRunner &runner,
                                                       EngineOptions options) {
  const proto::EntryPoint *decode = runner.entry(names::kDecode);
  if (!decode)
    return absl::InvalidArgumentError(
        absl::StrCat("the served Executable has no entry '", names::kDecode,
                     "' (models/deepseek/DeepseekInference.h)"));
  int64_t slots = 0, maxLen = 0;
  for (const proto::Argument &a : decode->arguments())
    if (a.name() == names::kTokens && a.state().empty()) {
      const proto::TensorType &t = decode->buffers(a.buffer());
      if (t.shape_size() == 1)
        slots = t.shape(0);
    }
  int64_t vocab = 0;
  for (const proto::Result &r : decode->results())
    if (r.name() == names::kLogits && r.state().empty()) {
      const proto::TensorType &t = decode->buffers(r.buffer());
      if (t.shape_size() == 2)
        vocab = t.shape(1);
    }
  std::string cache = names::latentCacheName(0);
  for (const proto::StateEntry &s : runner.executable().state())
    if (s.name() == cache && s.type().shape_size() == 3)
      maxLen = s.type().shape(1);
  if (slots < 1 || maxLen < 1 || vocab < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("entry '", names::kDecode, "' lacks a [B] argument '",
                     names::kTokens, "' or a [B, V] result '", names::kLogits,
                     "', or the Executable lacks the state '", cache, "'"));
  // The chunked prefill entry is optional (models/serve/ChunkedPrefill.h).
  int64_t chunk = 0;
  if (const proto::EntryPoint *e = runner.entry(serve::kPrefillChunk))
    for (const proto::Argument &a : e->arguments())
      if (a.name() == names::kTokens && a.state().empty()) {
        const proto::TensorType &t = e->buffers(a.buffer());
        if (t.shape_size() != 2 || t.shape(0) != 1)
          return absl::InvalidArgumentError(
              absl::StrCat("entry '", serve::kPrefillChunk,
                           "' takes tokens of shape [1, C]"));
        chunk = t.shape(1);
      }
  if (options.maxWaiting < 0)
    return absl::InvalidArgumentError("maxWaiting must be >= 0");
  // The logit mask is optional: a graph without it serves unconstrained
  // requests only.
  bool masks = false;
  for (const proto::Argument &a : decode->arguments())
    if (a.name() == names::kLogitMask && a.state().empty()) {
      const proto::TensorType &t = decode->buffers(a.buffer());
      if (t.shape_size() != 2 || t.shape(0) != slots || t.shape(1) != vocab)
        return absl::InvalidArgumentError(absl::StrCat(
            "entry '", names::kDecode, "' takes '", names::kLogitMask,
            "' of a shape other than [", slots, ", ", vocab, "]"));
      masks = true;
    }
  return std::unique_ptr<Engine>(new Engine(runner, std::move(options), slots,
                                            maxLen, vocab, chunk, masks));
}

Engine::Engine(EntryRunner &runner, EngineOptions options, int64_t slots,
               int64_t maxLen, int64_t vocab, int64_t chunk, bool masks)
    : runner(runner), options(std::move(options)), numSlots(slots),
      maxLen(maxLen), vocab(vocab), chunk(chunk), masks(masks), table(slots),
      pool(slots) {
  thread = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  wake.notify_all();
  thread.join();
  // Whoever still waits on a sequence must hear that it ended.
  for (int64_t s = 0; s < numSlots; ++s)
    if (table[s])
      finish(s, Finish::cancelled, "the server is shutting down");
  for (Waiting &w : queue)
    w.request.sink->onFinish(Finish::cancelled, "the server is shutting down");
}

absl::StatusOr<std::vector<SequenceId>>
Engine::submit(std::vector<SequenceRequest> requests) {
  for (size_t i = 0; i < requests.size(); ++i) {
    int64_t len = static_cast<int64_t>(requests[i].prompt.size());
    if (len < 1 || len > maxLen)
      return absl::InvalidArgumentError(
          absl::StrCat("the prompt has ", len,
                       " tokens; this model's context holds 1 to ", maxLen));
    if (!requests[i].sink)
      return absl::InvalidArgumentError("a sequence needs a sink");
    if (const auto &c = requests[i].constraint) {
      if (!masks)
        return absl::InvalidArgumentError(absl::StrCat(
            "the served entries take no '", names::kLogitMask,
            "', so requests cannot be constrained (re-export the bundle)"));
      if (c->vocabSize() != vocab)
        return absl::InvalidArgumentError(
            absl::StrCat("a constraint over ", c->vocabSize(),
                         " tokens cannot mask logits of ", vocab));
    }
  }
  std::vector<SequenceId> ids;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping)
      return absl::UnavailableError("the server is shutting down");
    int64_t free = numSlots - runningCount;
    int64_t queued = static_cast<int64_t>(queue.size());
    // Sequences that will find a slot at the next step do not wait.
    int64_t wouldWait = std::max<int64_t>(
        0, queued + static_cast<int64_t>(requests.size()) - free);
    if (wouldWait > options.maxWaiting)
      return absl::ResourceExhaustedError(
          absl::StrCat("the queue is full (", queued, " waiting, ",
                       runningCount, " running in ", numSlots, " slots)"));
    for (SequenceRequest &r : requests) {
      ids.push_back(nextId);
      queue.push_back({nextId++, std::move(r)});
    }
    if (options.metrics)
      options.metrics->setQueue(static_cast<int64_t>(queue.size()),
                                runningCount);
  }
  wake.notify_all();
  return ids;
}

void Engine::cancel(SequenceId id) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (id < 0 || id >= nextId)
      return;
    cancelled.insert(id);
  }
  wake.notify_all();
}

int64_t Engine::waiting() const {
  std::lock_guard<std::mutex> lock(mutex);
  return static_cast<int64_t>(queue.size());
}

int64_t Engine::running() const {
  std::lock_guard<std::mutex> lock(mutex);
  return runningCount;
}

std::vector<std::shared_ptr<SequenceSink>> Engine::admit() {
  std::vector<std::shared_ptr<SequenceSink>> dropped;
  if (!cancelled.empty()) {
    for (auto it = queue.begin(); it != queue.end();)
      if (cancelled.count(it->id)) {
        cancelled.erase(it->id);
        dropped.push_back(it->request.sink);
        it = queue.erase(it);
      } else {
        ++it;
      }
  }
  while (!queue.empty()) {
    std::optional<int64_t> s = pool.acquire();
    if (!s)
      break;
    Slot slot;
    slot.id = queue.front().id;
    slot.request = std::move(queue.front().request);
    if (slot.request.constraint)
      slot.constraintState = slot.request.constraint->start();
    queue.pop_front();
    table[*s] = std::move(slot);
    ++runningCount;
  }
  if (options.metrics)
    options.metrics->setQueue(static_cast<int64_t>(queue.size()), runningCount);
  return dropped;
}

void Engine::loop() {
  while (true) {
    std::vector<std::shared_ptr<SequenceSink>> dropped;
    std::vector<int64_t> toCancel;
    {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock,
                [&] { return stopping || !queue.empty() || runningCount > 0; });
      if (stopping)
        return;
      for (int64_t s = 0; s < numSlots; ++s)
        if (table[s] && cancelled.erase(table[s]->id))
          toCancel.push_back(s);
      dropped = admit();
    }
    for (auto &sink : dropped) {
      if (options.metrics)
        options.metrics->countFinish(finishName(Finish::cancelled));
      sink->onFinish(Finish::cancelled, "cancelled");
    }
    for (int64_t s : toCancel)
      finish(s, Finish::cancelled, "cancelled");
    bool any = std::any_of(table.begin(), table.end(),
                           [](const auto &slot) { return slot.has_value(); });
    if (!any)
      continue;
    if (absl::Status s = step(); !s.ok()) {
      // A failed step leaves the state as it was; the sequences in it end
      // with the error and the server goes on.
      for (int64_t i = 0; i < numSlots; ++i)
        if (table[i])
          finish(i, Finish::error, std::string(s.message()));
    }
  }
}

std::map<std::string, HostTensor>
Engine::samplingInputs(const std::vector<int64_t> &rows) const {
  int64_t b = static_cast<int64_t>(rows.size());
  std::vector<int64_t> topK(b, 0), seed(b, 0), stepIndex(b, 0);
  std::vector<float> temperature(b, 0), topP(b, 1);
  for (int64_t r = 0; r < b; ++r) {
    if (rows[r] < 0)
      continue;
    const Slot &slot = *table[rows[r]];
    const SamplingParams &p = slot.request.sampling;
    temperature[r] = p.temperature;
    topK[r] = p.topK;
    topP[r] = p.topP;
    seed[r] = p.seed;
    stepIndex[r] = static_cast<int64_t>(slot.generated.size());
  }
  std::map<std::string, HostTensor> inputs = {
      {names::kTemperature, HostTensor::ofFloats(temperature)},
      {names::kTopK, HostTensor::ofInts(topK)},
      {names::kTopP, HostTensor::ofFloats(topP)},
      {names::kSeed, HostTensor::ofInts(seed)},
      {names::kStep, HostTensor::ofInts(stepIndex)}};
  if (masks) {
    // Unconstrained and idle rows add zeros. A constrained row's mask is its
    // state's, also while its prompt is fed (those outputs are not used).
    HostTensor mask(proto::F32, {b, vocab});
    float *data = mask.data<float>();
    for (int64_t r = 0; r < b; ++r)
      if (rows[r] >= 0)
        if (const Slot &slot = *table[rows[r]]; slot.request.constraint)
          slot.request.constraint->writeMask(slot.constraintState,
                                             data + r * vocab);
    inputs[names::kLogitMask] = std::move(mask);
  }
  return inputs;
}

absl::Status Engine::step() {
  // Sequences still in their prompt take the chunk entry, one per call, where
  // there is one; the others decode together. A prompt is always cut at the
  // same positions (0, chunk, 2 chunk, ...), so what a sequence computes
  // never depends on the batch.
  std::vector<int64_t> chunked, decoding(numSlots, -1);
  bool anyDecode = false;
  for (int64_t s = 0; s < numSlots; ++s) {
    if (!table[s])
      continue;
    bool prompt = table[s]->position <
                  static_cast<int64_t>(table[s]->request.prompt.size());
    if (chunk > 0 && prompt) {
      chunked.push_back(s);
    } else {
      decoding[s] = s;
      anyDecode = true;
    }
  }
  for (int64_t s : chunked)
    KILN_RETURN_IF_ERROR(prefillChunk(s));
  if (anyDecode)
    KILN_RETURN_IF_ERROR(decode(decoding));
  return absl::OkStatus();
}

absl::Status Engine::prefillChunk(int64_t s) {
  auto start = std::chrono::steady_clock::now();
  const Slot &slot = *table[s];
  const std::vector<int64_t> &prompt = slot.request.prompt;
  int64_t count =
      std::min(chunk, static_cast<int64_t>(prompt.size()) - slot.position);
  HostTensor tokens(proto::I64, {1, chunk});
  for (int64_t i = 0; i < count; ++i)
    tokens.setInt(i, prompt[slot.position + i]);
  std::map<std::string, HostTensor> inputs = samplingInputs({s});
  inputs[names::kTokens] = tokens;
  inputs[serve::kSlot] = HostTensor::ofInts({s});
  inputs[serve::kStarts] = HostTensor::ofInts({slot.position});
  inputs[serve::kCounts] = HostTensor::ofInts({count});
  KILN_ASSIGN_OR_RETURN(auto results,
                        runner.runNamed(serve::kPrefillChunk, inputs));
  KILN_RETURN_IF_ERROR(advance(serve::kPrefillChunk, results, {s}, count));
  if (options.metrics)
    options.metrics->observeStep(
        1, numSlots,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  return absl::OkStatus();
}

absl::Status Engine::decode(const std::vector<int64_t> &rows) {
  auto start = std::chrono::steady_clock::now();
  int64_t b = numSlots, active = 0;
  // Idle rows sit one past the cache, where decode writes nothing.
  std::vector<int64_t> tokens(b, 0), positions(b, maxLen);
  for (int64_t s = 0; s < b; ++s) {
    if (rows[s] < 0)
      continue;
    ++active;
    const Slot &slot = *table[s];
    const std::vector<int64_t> &prompt = slot.request.prompt;
    int64_t promptLen = static_cast<int64_t>(prompt.size());
    positions[s] = slot.position;
    tokens[s] = slot.position < promptLen
                    ? prompt[slot.position]
                    : slot.generated[slot.position - promptLen];
  }
  std::map<std::string, HostTensor> inputs = samplingInputs(rows);
  inputs[names::kTokens] = HostTensor::ofInts(tokens);
  inputs[names::kPositions] = HostTensor::ofInts(positions);
  KILN_ASSIGN_OR_RETURN(auto results, runner.runNamed(names::kDecode, inputs));
  KILN_RETURN_IF_ERROR(advance(names::kDecode, results, rows, 1));
  if (options.metrics)
    options.metrics->observeStep(
        active, b,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  return absl::OkStatus();
}

absl::Status Engine::advance(const char *entry,
                             const std::map<std::string, HostTensor> &results,
                             const std::vector<int64_t> &rows, int64_t fed) {
  auto next = results.find(names::kNextToken);
  auto logits = results.find(names::kLogits);
  if (next == results.end() || logits == results.end())
    return absl::InvalidArgumentError(
        absl::StrCat("entry '", entry, "' lacks the result '",
                     names::kNextToken, "' or '", names::kLogits, "'"));
  const HostTensor &logitsT = logits->second;
  for (size_t r = 0; r < rows.size(); ++r) {
    int64_t s = rows[r];
    if (s < 0)
      continue;
    Slot &slot = *table[s];
    int64_t promptLen = static_cast<int64_t>(slot.request.prompt.size());
    slot.position += fed;
    // Outputs while the prompt is still being fed predict prompt tokens.
    if (slot.position < promptLen)
      continue;
    int64_t row = static_cast<int64_t>(r);
    accept(slot, next->second.getInt(row), logitsT.data<float>() + row * vocab,
           vocab);
    if (slot.done)
      finish(s, *slot.done, slot.doneMessage);
  }
  return absl::OkStatus();
}

void Engine::accept(Slot &slot, int64_t token, const float *logits,
                    int64_t vocab) {
  const SamplingParams &p = slot.request.sampling;
  std::optional<TokenLogprob> logprob;
  if (p.topLogprobs >= 0 && token >= 0 && token < vocab)
    logprob = logprobsOf(logits, vocab, token, p.topLogprobs);
  slot.generated.push_back(token);
  bool more = slot.request.sink->onToken(token, logprob ? &*logprob : nullptr);
  if (options.metrics)
    options.metrics->countTokens(0, 1);
  int64_t made = static_cast<int64_t>(slot.generated.size());
  int64_t promptLen = static_cast<int64_t>(slot.request.prompt.size());
  bool eos =
      !slot.request.ignoreEos && options.eosId && token == *options.eosId;
  std::optional<Finish> constrained;
  if (slot.request.constraint && !eos)
    constrained = constrain(slot, token, slot.doneMessage);
  Finish why;
  if (eos)
    why = Finish::eos;
  else if (!more)
    why = Finish::stop;
  else if (constrained)
    why = *constrained;
  else if (made >= p.maxTokens || promptLen + made - 1 >= maxLen)
    // The next step would store this token at promptLen + made - 1.
    why = Finish::length;
  else
    return;
  slot.done = why;
}

std::optional<Finish> Engine::constrain(Slot &slot, int64_t token,
                                        std::string &message) {
  const TokenConstraint &c = *slot.request.constraint;
  int32_t next = c.advance(slot.constraintState, token);
  // The mask forbids what advance refuses, so these are defensive: a
  // sampler that ignored the mask, or a vocabulary whose tokens cannot
  // spell what the pattern needs next.
  if (next == ByteDfa::kDead) {
    message = absl::StrCat("token ", token, " breaks the output constraint");
    return Finish::error;
  }
  slot.constraintState = next;
  if (c.complete(next))
    return Finish::stop;
  if (!c.anyAllowed(next)) {
    message = "no token of the vocabulary continues the output constraint";
    return Finish::error;
  }
  return std::nullopt;
}

void Engine::finish(int64_t slotIndex, Finish why, const std::string &message) {
  Slot &slot = *table[slotIndex];
  std::shared_ptr<SequenceSink> sink = std::move(slot.request.sink);
  table[slotIndex].reset();
  pool.release(slotIndex);
  {
    std::lock_guard<std::mutex> lock(mutex);
    --runningCount;
    if (options.metrics)
      options.metrics->setQueue(static_cast<int64_t>(queue.size()),
                                runningCount);
  }
  if (options.metrics)
    options.metrics->countFinish(finishName(why));
  sink->onFinish(why, message);
}

} // namespace kiln::serving
