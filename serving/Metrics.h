//===- Metrics.h - the server's counters in Prometheus text     -*- C++ -*-===//
//
// Counters, gauges and fixed-bucket histograms for GET /metrics: requests by
// endpoint and status, prompt and generated tokens, queue depth, batch
// occupancy, time to first token, inter-token latency, decode step time.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_SERVING_METRICS_H
#define KILN_SERVING_METRICS_H

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kiln::serving {

/// Cumulative histogram over fixed upper bounds, as Prometheus exposes one.
class Histogram {
public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  /// "<name>_bucket{le=...}", "_sum" and "_count" lines.
  std::string render(const std::string &name) const;
  int64_t count() const { return total; }

private:
  std::vector<double> bounds;
  std::vector<int64_t> counts; // per bucket, the last one +Inf
  double sum = 0;
  int64_t total = 0;
};

class Metrics {
public:
  Metrics();
  void countRequest(const std::string &endpoint, int status);
  void countTokens(int64_t prompt, int64_t generated);
  void observeTtft(double seconds);
  void observeInterToken(double seconds);
  /// One decode step: how many slots held a sequence, and how long it took.
  void observeStep(int64_t active, int64_t slots, double seconds);
  void setQueue(int64_t waiting, int64_t running);
  /// A sequence ended: "eos", "stop", "length", "cancelled" or "error".
  void countFinish(const std::string &reason);
  /// The Prometheus text exposition (format 0.0.4).
  std::string render() const;

private:
  mutable std::mutex mutex;
  std::map<std::pair<std::string, int>, int64_t> requests;
  std::map<std::string, int64_t> finished;
  int64_t promptTokens = 0, generatedTokens = 0, steps = 0;
  int64_t waiting = 0, running = 0;
  Histogram ttft, interToken, stepSeconds, occupancy;
};

} // namespace kiln::serving

#endif // KILN_SERVING_METRICS_H
