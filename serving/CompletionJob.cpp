//===- CompletionJob.cpp - one API request's choices, in flight -----------===//

#include "serving/CompletionJob.h"

#include <atomic>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace kiln::serving {

namespace {

using json = nlohmann::json;

std::string dump(const json &j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Unique within the process and unpredictable enough for logs.
std::string newId(bool chat) {
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  uint64_t t = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  return absl::StrFormat("%s-%016x%08x", chat ? "chatcmpl" : "cmpl", t,
                         static_cast<uint32_t>(n));
}

class ChoiceSink final : public SequenceSink {
public:
  ChoiceSink(std::shared_ptr<CompletionJob> job, int64_t index)
      : job(std::move(job)), index(index) {}
  bool onToken(int64_t token, const TokenLogprob *logprob) override {
    return job->onToken(index, token, logprob);
  }
  void onFinish(Finish finish, const std::string &message) override {
    job->onFinish(index, finish, message);
  }

private:
  std::shared_ptr<CompletionJob> job;
  int64_t index;
};

json bytesOf(const std::string &text) {
  json bytes = json::array();
  for (unsigned char c : text)
    bytes.push_back(static_cast<int>(c));
  return bytes;
}

} // namespace

std::shared_ptr<CompletionJob>
CompletionJob::create(const JobContext &context, CompletionRequest request,
                      std::vector<std::vector<int64_t>> prompts, int64_t seed,
                      std::shared_ptr<const TokenConstraint> constraint) {
  return std::shared_ptr<CompletionJob>(
      new CompletionJob(context, std::move(request), std::move(prompts), seed,
                        std::move(constraint)));
}

CompletionJob::CompletionJob(const JobContext &context,
                             CompletionRequest request,
                             std::vector<std::vector<int64_t>> prompts,
                             int64_t seed,
                             std::shared_ptr<const TokenConstraint> constraint)
    : context(context), request(std::move(request)),
      prompts(std::move(prompts)), seed(seed),
      constraint(std::move(constraint)), id(newId(this->request.chat)),
      created(std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count()),
      arrival(std::chrono::steady_clock::now()) {
  bool reasons = this->request.chat && context.reasons;
  for (size_t p = 0; p < this->prompts.size(); ++p)
    for (int64_t i = 0; i < this->request.n; ++i) {
      Choice c;
      c.prompt = p;
      c.stream = std::make_unique<TextStream>(context.tokenizer,
                                              this->request.stop, reasons);
      choices.push_back(std::move(c));
    }
}

std::optional<ApiError> CompletionJob::submit() {
  std::vector<SequenceRequest> sequences;
  int64_t promptTokens = 0;
  for (const std::vector<int64_t> &p : prompts)
    promptTokens += static_cast<int64_t>(p.size());
  for (int64_t i = 0; i < static_cast<int64_t>(choices.size()); ++i) {
    SequenceRequest s;
    s.prompt = prompts[choices[i].prompt];
    s.ignoreEos = request.ignoreEos;
    s.sampling.temperature = request.temperature;
    s.sampling.topK = request.topK;
    s.sampling.topP = request.topP;
    // Wraps rather than overflows for seeds near the int64 limit.
    s.sampling.seed = static_cast<int64_t>(static_cast<uint64_t>(seed) +
                                           static_cast<uint64_t>(i));
    s.sampling.maxTokens =
        request.maxTokens.value_or(std::numeric_limits<int64_t>::max());
    s.sampling.topLogprobs = request.logprobs ? request.topLogprobs : -1;
    s.sink = std::make_shared<ChoiceSink>(shared_from_this(), i);
    s.constraint = constraint;
    sequences.push_back(std::move(s));
  }
  auto submitted = context.engine.submit(std::move(sequences));
  if (submitted.ok()) {
    ids = *submitted;
    context.metrics.countTokens(promptTokens, 0);
    return std::nullopt;
  }
  const absl::Status &s = submitted.status();
  if (absl::IsResourceExhausted(s))
    return ApiError{429, std::string(s.message()), "rate_limit_error", "",
                    "queue_full"};
  if (absl::IsInvalidArgument(s))
    return badRequest(std::string(s.message()),
                      request.chat ? "messages" : "prompt",
                      "context_length_exceeded");
  return ApiError{503, std::string(s.message()), "server_error", "",
                  "unavailable"};
}

void CompletionJob::cancel() {
  for (SequenceId sequence : ids)
    context.engine.cancel(sequence);
}

bool CompletionJob::onToken(int64_t index, int64_t token,
                            const TokenLogprob *logprob) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mutex);
  Choice &c = choices[index];
  if (c.tokens.empty())
    context.metrics.observeTtft(
        std::chrono::duration<double>(now - arrival).count());
  else
    context.metrics.observeInterToken(
        std::chrono::duration<double>(now - c.lastToken).count());
  c.lastToken = now;
  c.tokens.push_back(token);
  dirty = true;
  changed.notify_all();
  if (context.tokenizer.eosId() && token == *context.tokenizer.eosId())
    return true;
  if (logprob && !c.stream->stopped())
    c.logprobs.push_back({token, *logprob});
  return c.stream->add(token);
}

void CompletionJob::onFinish(int64_t index, Finish finish,
                             const std::string &message) {
  std::lock_guard<std::mutex> lock(mutex);
  Choice &c = choices[index];
  c.finish = finish;
  c.error = message;
  c.stream->close();
  dirty = true;
  changed.notify_all();
}

const char *CompletionJob::finishReason(const Choice &c) const {
  return c.finish == Finish::length ? "length" : "stop";
}

std::string CompletionJob::usageJson() const {
  int64_t completion = 0;
  for (const Choice &c : choices)
    completion += static_cast<int64_t>(c.tokens.size());
  int64_t promptTokens = 0;
  for (const std::vector<int64_t> &p : prompts)
    promptTokens += static_cast<int64_t>(p.size());
  return dump(json{{"prompt_tokens", promptTokens},
                   {"completion_tokens", completion},
                   {"total_tokens", promptTokens + completion}});
}

namespace {

/// OpenAI's two logprobs shapes: chat's content list, completions' columns.
json chatLogprobs(const tokenizer::TextTokenizer &tok, const auto &entries,
                  size_t from) {
  json content = json::array();
  for (size_t i = from; i < entries.size(); ++i) {
    auto spell = [&](int64_t id) { return tok.decode({id}).value_or(""); };
    std::string text = spell(entries[i].token);
    json top = json::array();
    for (const auto &[id, lp] : entries[i].logprob.top)
      top.push_back({{"token", spell(id)},
                     {"logprob", lp},
                     {"bytes", bytesOf(spell(id))}});
    content.push_back({{"token", text},
                       {"logprob", entries[i].logprob.logprob},
                       {"bytes", bytesOf(text)},
                       {"top_logprobs", top}});
  }
  return json{{"content", content}};
}

json completionLogprobs(const tokenizer::TextTokenizer &tok,
                        const auto &entries, size_t from, int64_t &offset) {
  json tokens = json::array(), values = json::array(), tops = json::array(),
       offsets = json::array();
  for (size_t i = from; i < entries.size(); ++i) {
    auto spell = [&](int64_t id) { return tok.decode({id}).value_or(""); };
    std::string text = spell(entries[i].token);
    tokens.push_back(text);
    values.push_back(entries[i].logprob.logprob);
    json top = json::object();
    for (const auto &[id, lp] : entries[i].logprob.top)
      top[spell(id)] = lp;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += static_cast<int64_t>(text.size());
  }
  return json{{"tokens", tokens},
              {"token_logprobs", values},
              {"top_logprobs", tops},
              {"text_offset", offsets}};
}

} // namespace

bool CompletionJob::allFinished() const {
  for (const Choice &c : choices)
    if (!c.finish)
      return false;
  return true;
}

bool CompletionJob::waitFor(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex);
  return changed.wait_for(lock, timeout, [&] { return allFinished(); });
}

std::variant<std::string, ApiError> CompletionJob::wait() {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return allFinished(); });
  json out = {{"id", id},
              {"object", request.chat ? "chat.completion" : "text_completion"},
              {"created", created},
              {"model", context.modelName}};
  json list = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    Choice &c = choices[i];
    if (*c.finish == Finish::error)
      return ApiError{500, "generation failed: " + c.error, "server_error", "",
                      "internal_error"};
    if (*c.finish == Finish::cancelled)
      return ApiError{503, "generation was cancelled: " + c.error,
                      "server_error", "", "cancelled"};
    const std::string &text = c.stream->text();
    json choice = {{"index", i}, {"finish_reason", finishReason(c)}};
    json logprobs = nullptr;
    if (request.logprobs) {
      int64_t offset = 0;
      logprobs = request.chat ? chatLogprobs(context.tokenizer, c.logprobs, 0)
                              : completionLogprobs(context.tokenizer,
                                                   c.logprobs, 0, offset);
    }
    choice["logprobs"] = logprobs;
    if (request.chat) {
      json message = {{"role", "assistant"}};
      if (context.reasons) {
        tokenizer::ReasoningSplit split = tokenizer::splitReasoning(text);
        message["reasoning_content"] = split.reasoning;
        message["content"] = split.content;
      } else {
        message["content"] = text;
      }
      choice["message"] = message;
    } else {
      choice["text"] = text;
    }
    if (request.returnTokenIds) {
      choice["token_ids"] = c.tokens;
      if (!request.chat)
        choice["prompt_token_ids"] = prompts[c.prompt];
    }
    list.push_back(choice);
  }
  out["choices"] = list;
  out["usage"] = json::parse(usageJson());
  if (request.returnTokenIds && prompts.size() == 1)
    out["prompt_token_ids"] = prompts[0];
  return dump(out);
}

std::string CompletionJob::chunk(int64_t index,
                                 const std::string &choiceJson) const {
  json out = {
      {"id", id},
      {"object", request.chat ? "chat.completion.chunk" : "text_completion"},
      {"created", created},
      {"model", context.modelName},
      {"choices", json::array({json::parse(choiceJson)})}};
  if (request.includeUsage)
    out["usage"] = nullptr;
  (void)index;
  return "data: " + dump(out) + "\n\n";
}

bool CompletionJob::nextEvents(std::string &out,
                               std::chrono::milliseconds poll) {
  std::unique_lock<std::mutex> lock(mutex);
  if (doneSent)
    return false;
  changed.wait_for(lock, poll, [&] { return dirty; });
  dirty = false;
  bool allReported = true;
  for (size_t i = 0; i < choices.size(); ++i) {
    Choice &c = choices[i];
    if (c.reported)
      continue;
    // With return_token_ids, each choice's new tokens ride on the first
    // chunk sent for it this time (an extension, as vLLM's), so a client
    // sees every token as it comes even when it spells no text.
    json ids = nullptr;
    if (request.returnTokenIds && c.tokensSent < c.tokens.size()) {
      ids = json(std::vector<int64_t>(c.tokens.begin() + c.tokensSent,
                                      c.tokens.end()));
      c.tokensSent = c.tokens.size();
    }
    auto emit = [&](json delta, json logprobs, json finish) {
      json choice = {
          {"index", i}, {"logprobs", logprobs}, {"finish_reason", finish}};
      if (request.chat)
        choice["delta"] = delta;
      else
        choice["text"] = delta.value("content", std::string());
      if (!ids.is_null()) {
        choice["token_ids"] = ids;
        ids = nullptr;
      }
      out += chunk(static_cast<int64_t>(i), dump(choice));
    };
    if (request.chat && !c.started) {
      emit(json{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
      c.started = true;
    }
    TextDelta delta = c.stream->take();
    json logprobs = nullptr;
    if (request.logprobs && c.logprobsSent < c.logprobs.size()) {
      int64_t offset = 0;
      logprobs =
          request.chat
              ? chatLogprobs(context.tokenizer, c.logprobs, c.logprobsSent)
              : completionLogprobs(context.tokenizer, c.logprobs,
                                   c.logprobsSent, offset);
      c.logprobsSent = c.logprobs.size();
    }
    if (!delta.reasoning.empty()) {
      emit(json{{"reasoning_content", delta.reasoning}}, logprobs, nullptr);
      logprobs = nullptr;
    }
    if (!delta.content.empty() || !logprobs.is_null() ||
        (!ids.is_null() && !c.finish))
      emit(json{{"content", delta.content}}, logprobs, nullptr);
    if (!c.finish) {
      allReported = false;
      continue;
    }
    if (*c.finish == Finish::error || *c.finish == Finish::cancelled) {
      ApiError e{*c.finish == Finish::error ? 500 : 503,
                 "generation ended: " + c.error, "server_error", "",
                 *c.finish == Finish::error ? "internal_error" : "cancelled"};
      out += "data: " + e.body() + "\n\n";
    } else {
      emit(json::object(), nullptr, finishReason(c));
    }
    c.reported = true;
  }
  auto now = std::chrono::steady_clock::now();
  if (!out.empty())
    lastEvent = now;
  if (!allReported) {
    if (out.empty() && now - lastEvent >= std::chrono::milliseconds(500)) {
      out = ": keep-alive\n\n";
      lastEvent = now;
    }
    return true;
  }
  if (request.includeUsage) {
    json usage = {
        {"id", id},
        {"object", request.chat ? "chat.completion.chunk" : "text_completion"},
        {"created", created},
        {"model", context.modelName},
        {"choices", json::array()},
        {"usage", json::parse(usageJson())}};
    out += "data: " + dump(usage) + "\n\n";
  }
  out += "data: [DONE]\n\n";
  doneSent = true;
  return false;
}

} // namespace kiln::serving
