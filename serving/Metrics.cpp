//===- Metrics.cpp - the server's counters in Prometheus text -------------===//

#include "serving/Metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kiln::serving {

namespace {

std::string number(double v) { return absl::StrFormat("%.9g", v); }

std::vector<double> latencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,  0.5,    1,     2.5,  5,     10,   30};
}

} // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds(std::move(bounds)), counts(this->bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds.size() && value > bounds[i])
    ++i;
  ++counts[i];
  sum += value;
  ++total;
}

std::string Histogram::render(const std::string &name) const {
  std::string out;
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", number(bounds[i]), "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", total, "\n", name,
                  "_sum ", number(sum), "\n", name, "_count ", total, "\n");
  return out;
}

Metrics::Metrics()
    : ttft(latencyBounds()), interToken(latencyBounds()),
      stepSeconds(latencyBounds()),
      occupancy({0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1}) {}

void Metrics::countRequest(const std::string &endpoint, int status) {
  std::lock_guard<std::mutex> lock(mutex);
  ++requests[{endpoint, status}];
}

void Metrics::countTokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mutex);
  promptTokens += prompt;
  generatedTokens += generated;
}

void Metrics::observeTtft(double seconds) {
  std::lock_guard<std::mutex> lock(mutex);
  ttft.observe(seconds);
}

void Metrics::observeInterToken(double seconds) {
  std::lock_guard<std::mutex> lock(mutex);
  interToken.observe(seconds);
}

void Metrics::observeStep(int64_t active, int64_t slots, double seconds) {
  std::lock_guard<std::mutex> lock(mutex);
  ++steps;
  stepSeconds.observe(seconds);
  occupancy.observe(slots > 0 ? static_cast<double>(active) / slots : 0);
}

void Metrics::setQueue(int64_t waitingNow, int64_t runningNow) {
  std::lock_guard<std::mutex> lock(mutex);
  waiting = waitingNow;
  running = runningNow;
}

void Metrics::countFinish(const std::string &reason) {
  std::lock_guard<std::mutex> lock(mutex);
  ++finished[reason];
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex);
  std::string out =
      "# HELP kiln_requests_total HTTP requests by endpoint and status.\n"
      "# TYPE kiln_requests_total counter\n";
  for (const auto &[key, count] : requests)
    absl::StrAppend(&out, "kiln_requests_total{endpoint=\"", key.first,
                    "\",status=\"", key.second, "\"} ", count, "\n");
  absl::StrAppend(&out, "# HELP kiln_sequences_finished_total Sequences "
                        "ended, by reason.\n"
                        "# TYPE kiln_sequences_finished_total counter\n");
  for (const auto &[reason, count] : finished)
    absl::StrAppend(&out, "kiln_sequences_finished_total{reason=\"", reason,
                    "\"} ", count, "\n");
  absl::StrAppend(
      &out,
      "# HELP kiln_prompt_tokens_total Prompt tokens of admitted requests.\n"
      "# TYPE kiln_prompt_tokens_total counter\nkiln_prompt_tokens_total ",
      promptTokens,
      "\n# HELP kiln_generation_tokens_total Generated tokens.\n"
      "# TYPE kiln_generation_tokens_total counter\n"
      "kiln_generation_tokens_total ",
      generatedTokens,
      "\n# HELP kiln_decode_steps_total Decode steps run.\n"
      "# TYPE kiln_decode_steps_total counter\nkiln_decode_steps_total ",
      steps,
      "\n# HELP kiln_queue_waiting Sequences waiting for a slot.\n"
      "# TYPE kiln_queue_waiting gauge\nkiln_queue_waiting ",
      waiting,
      "\n# HELP kiln_queue_running Sequences holding a slot.\n"
      "# TYPE kiln_queue_running gauge\nkiln_queue_running ",
      running, "\n");
  absl::StrAppend(&out,
                  "# HELP kiln_batch_occupancy Fraction of slots in use per "
                  "decode step.\n# TYPE kiln_batch_occupancy histogram\n",
                  occupancy.render("kiln_batch_occupancy"),
                  "# HELP kiln_time_to_first_token_seconds From arrival to "
                  "the first generated token.\n"
                  "# TYPE kiln_time_to_first_token_seconds histogram\n",
                  ttft.render("kiln_time_to_first_token_seconds"),
                  "# HELP kiln_inter_token_latency_seconds Between a "
                  "sequence's successive tokens.\n"
                  "# TYPE kiln_inter_token_latency_seconds histogram\n",
                  interToken.render("kiln_inter_token_latency_seconds"),
                  "# HELP kiln_decode_step_seconds One decode step of the "
                  "whole batch.\n# TYPE kiln_decode_step_seconds histogram\n",
                  stepSeconds.render("kiln_decode_step_seconds"));
  return out;
}

} // namespace kiln::serving
