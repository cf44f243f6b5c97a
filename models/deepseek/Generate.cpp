//===- Generate.cpp - batched generation over compiled entries ------------===//
//
// Shapes come from the Executable itself (prefill's tokens argument and the
// cache state), so one loop serves every compiled bucket.
//
//===----------------------------------------------------------------------===//

#include "models/deepseek/Generate.h"

#include <cmath>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "executor/StatusMacros.h"
#include "models/deepseek/InferenceNames.h"

namespace kiln::models {

namespace {

namespace names = inference;

struct Bucket {
  int64_t batch = 0, promptLen = 0, maxLen = 0;
  /// Width of the logit mask the entries take (InferenceNames.h); 0: none.
  int64_t maskVocab = 0;
  /// The entries take min_p.
  bool minP = false;
  /// The entries take no sampling controls: argmax only
  /// (InferenceShape::greedyOnly).
  bool greedyOnly = true;
};

absl::StatusOr<Bucket> readBucket(const EntryRunner &executor) {
  const proto::EntryPoint *prefill = executor.entry(names::kPrefill);
  if (!prefill || !executor.entry(names::kDecode))
    return absl::InvalidArgumentError(absl::StrCat(
        "generate needs entries '", names::kPrefill, "' and '", names::kDecode,
        "' (models/deepseek/DeepseekInference.h)"));
  Bucket bucket;
  for (const proto::Argument &a : prefill->arguments())
    if (a.name() == names::kTokens && a.state().empty()) {
      const proto::TensorType &t = prefill->buffers(a.buffer());
      if (t.shape_size() == 2) {
        bucket.batch = t.shape(0);
        bucket.promptLen = t.shape(1);
      }
    } else if (a.name() == names::kLogitMask && a.state().empty()) {
      // Serving's graphs take one; generate() constrains nothing.
      const proto::TensorType &t = prefill->buffers(a.buffer());
      if (t.shape_size() == 2)
        bucket.maskVocab = t.shape(1);
    } else if (a.name() == names::kMinP && a.state().empty()) {
      bucket.minP = true;
    } else if (a.name() == names::kTemperature && a.state().empty()) {
      bucket.greedyOnly = false;
    }
  std::string cache = names::latentCacheName(0);
  for (const proto::StateEntry &s : executor.executable().state())
    if (s.name() == cache && s.type().shape_size() == 3)
      bucket.maxLen = s.type().shape(1);
  if (bucket.batch < 1 || bucket.maxLen < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "entry '", names::kPrefill, "' lacks a [B, S] argument '",
        names::kTokens, "' or the executable lacks the state '", cache, "'"));
  return bucket;
}

bool endsWith(const std::vector<int64_t> &tokens,
              const std::vector<int64_t> &suffix) {
  return !suffix.empty() && suffix.size() <= tokens.size() &&
         std::equal(suffix.rbegin(), suffix.rend(), tokens.rbegin());
}

/// One row of a wave: a request in flight, or padding (req == nullptr).
struct Row {
  const GenerationRequest *req = nullptr;
  GenerationResult *out = nullptr;
  int64_t promptLen = 1;
  bool active = false;
};

class Wave {
public:
  Wave(EntryRunner &executor, const Bucket &bucket,
       const GenerateOptions &options)
      : executor(executor), bucket(bucket), options(options) {}

  absl::Status run(std::vector<Row> rows) {
    this->rows = std::move(rows);
    this->rows.resize(bucket.batch);
    int64_t b = bucket.batch, s = bucket.promptLen;
    HostTensor tokens(proto::I64, {b, s});
    std::vector<int64_t> lengths(b, 1);
    for (int64_t r = 0; r < b; ++r) {
      const Row &row = this->rows[r];
      if (!row.active)
        continue;
      lengths[r] = row.promptLen;
      for (int64_t i = 0; i < row.promptLen; ++i)
        tokens.setInt(r * s + i, row.req->prompt[i]);
    }
    std::map<std::string, HostTensor> inputs = sampling();
    inputs[names::kTokens] = tokens;
    inputs[names::kLengths] = HostTensor::ofInts(lengths);
    KILN_RETURN_IF_ERROR(checkStop());
    KILN_RETURN_IF_ERROR(step(names::kPrefill, inputs));

    while (true) {
      KILN_ASSIGN_OR_RETURN(
          bool more,
          going(std::any_of(this->rows.begin(), this->rows.end(),
                            [](const Row &row) { return row.active; })));
      if (!more)
        break;
      // Finished and padding rows idle one past the cache, where decode's
      // masked write touches nothing: their cache stays as they left it.
      std::vector<int64_t> last(b, 0), positions(b, bucket.maxLen);
      for (int64_t r = 0; r < b; ++r) {
        const Row &row = this->rows[r];
        if (!row.active)
          continue;
        const std::vector<int64_t> &done = row.out->tokens;
        last[r] = done.back();
        positions[r] = row.promptLen + static_cast<int64_t>(done.size()) - 1;
      }
      inputs = sampling();
      inputs[names::kTokens] = HostTensor::ofInts(last);
      inputs[names::kPositions] = HostTensor::ofInts(positions);
      KILN_RETURN_IF_ERROR(checkStop());
      KILN_RETURN_IF_ERROR(step(names::kDecode, inputs));
    }
    return absl::OkStatus();
  }

  /// Whether to run another step (or wave): `mine`, or any rank's under
  /// GenerateOptions::lockstep.
  absl::StatusOr<bool> going(bool mine) const {
    if (!options.lockstep)
      return mine;
    return options.lockstep(mine);
  }

private:
  std::map<std::string, HostTensor> sampling() const {
    int64_t b = bucket.batch;
    std::vector<float> temperature(b, 0), topP(b, 1), minP(b, 0);
    std::vector<int64_t> topK(b, 0), seed(b, 0), stepIndex(b, 0);
    for (int64_t r = 0; r < b; ++r) {
      const Row &row = rows[r];
      if (!row.active)
        continue;
      const SamplingParams &p = row.req->sampling;
      temperature[r] = p.temperature;
      topK[r] = p.topK;
      topP[r] = p.topP;
      minP[r] = std::max(p.minP, 0.0f);
      seed[r] = p.seed;
      stepIndex[r] = static_cast<int64_t>(row.out->tokens.size());
    }
    std::map<std::string, HostTensor> out;
    if (bucket.maskVocab > 0)
      out[names::kLogitMask] = HostTensor(proto::F32, {b, bucket.maskVocab});
    if (bucket.greedyOnly)
      return out;
    out[names::kTemperature] = HostTensor::ofFloats(temperature);
    out[names::kTopK] = HostTensor::ofInts(topK);
    out[names::kTopP] = HostTensor::ofFloats(topP);
    out[names::kSeed] = HostTensor::ofInts(seed);
    out[names::kStep] = HostTensor::ofInts(stepIndex);
    if (bucket.minP)
      out[names::kMinP] = HostTensor::ofFloats(minP);
    return out;
  }

  absl::Status step(const char *entry,
                    const std::map<std::string, HostTensor> &inputs) {
    // Only the tokens come back: the [B, V] logits stay on the device.
    KILN_ASSIGN_OR_RETURN(
        auto results, executor.runNamed(entry, inputs, {names::kNextToken}));
    auto it = results.find(names::kNextToken);
    if (it == results.end())
      return absl::InvalidArgumentError(absl::StrCat(
          "entry '", entry, "' has no result '", names::kNextToken, "'"));
    for (int64_t r = 0; r < bucket.batch; ++r)
      if (rows[r].active)
        accept(rows[r], it->second.getInt(r));
    return absl::OkStatus();
  }

  absl::Status checkStop() const {
    if (options.stop && options.stop->load())
      return absl::CancelledError("generation stopped on request");
    return absl::OkStatus();
  }

  void finish(Row &row, FinishReason reason) {
    row.active = false;
    row.out->finishReason = reason;
    if (options.detokenize && reason != FinishReason::stop)
      row.out->text = options.detokenize(row.out->tokens);
  }

  void accept(Row &row, int64_t token) {
    GenerationResult &out = *row.out;
    out.tokens.push_back(token);
    if (options.eosId && token == *options.eosId)
      return finish(row, FinishReason::eos);
    for (const auto &stop : row.req->stopTokens)
      if (endsWith(out.tokens, stop))
        return finish(row, FinishReason::stop);
    if (!row.req->stopStrings.empty()) {
      std::string text = options.detokenize(out.tokens);
      size_t first = std::string::npos;
      for (const std::string &stop : row.req->stopStrings) {
        size_t at = stop.empty() ? std::string::npos : text.find(stop);
        if (at < first) {
          first = at;
          out.stopString = stop;
        }
      }
      if (first != std::string::npos) {
        out.text = text.substr(0, first);
        return finish(row, FinishReason::stop);
      }
    }
    int64_t made = static_cast<int64_t>(out.tokens.size());
    // The next decode would store this token at slot promptLen + made - 1.
    if (made >= row.req->maxNewTokens ||
        row.promptLen + made - 1 >= bucket.maxLen)
      finish(row, FinishReason::length);
  }

  EntryRunner &executor;
  Bucket bucket;
  const GenerateOptions &options;
  std::vector<Row> rows;
};

} // namespace

const char *finishReasonName(FinishReason reason) {
  switch (reason) {
  case FinishReason::eos:
    return "eos";
  case FinishReason::stop:
    return "stop";
  case FinishReason::length:
    return "length";
  }
  return "?";
}

absl::StatusOr<std::vector<GenerationResult>>
generate(EntryRunner &executor, const std::vector<GenerationRequest> &requests,
         const GenerateOptions &options) {
  KILN_ASSIGN_OR_RETURN(Bucket bucket, readBucket(executor));
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerationRequest &req = requests[i];
    int64_t len = static_cast<int64_t>(req.prompt.size());
    if (len < 1 || len > bucket.promptLen)
      return absl::InvalidArgumentError(absl::StrCat(
          "request ", i, ": prompt of ", len,
          " tokens; the compiled prefill takes 1 to ", bucket.promptLen));
    // NaN passes every range test the sampling kernel makes.
    if (!std::isfinite(req.sampling.temperature) ||
        !std::isfinite(req.sampling.topP))
      return absl::InvalidArgumentError(absl::StrCat(
          "request ", i, ": temperature ", req.sampling.temperature,
          " and top_p ", req.sampling.topP, " must be finite numbers"));
    if (!std::isfinite(req.sampling.minP))
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i, ": min_p ", req.sampling.minP,
                       " must be a finite number"));
    if (bucket.greedyOnly && req.sampling.temperature > 0)
      return absl::InvalidArgumentError(absl::StrCat(
          "request ", i, ": temperature ", req.sampling.temperature,
          " samples, but the entries decode greedily only (built with "
          "InferenceShape::greedyOnly); use temperature 0 or a sampling "
          "bundle"));
    if (req.sampling.minP > 0 && !bucket.minP)
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i, ": min_p ", req.sampling.minP,
                       " but entry '", names::kPrefill, "' takes no '",
                       names::kMinP, "' (build it with InferenceShape::minP)"));
    if (!req.stopStrings.empty() && !options.detokenize)
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i,
                       " has stop strings but GenerateOptions has no "
                       "detokenize callback to match them on"));
  }

  std::vector<GenerationResult> results(requests.size());
  Wave wave(executor, bucket, options);
  for (size_t begin = 0;; begin += bucket.batch) {
    // In lockstep a rank whose requests are done runs padding waves while
    // another rank's are not.
    KILN_ASSIGN_OR_RETURN(bool more, wave.going(begin < requests.size()));
    if (!more)
      break;
    std::vector<Row> rows;
    for (size_t i = begin; i < std::min(requests.size(), begin + bucket.batch);
         ++i) {
      Row row{&requests[i], &results[i],
              static_cast<int64_t>(requests[i].prompt.size()), true};
      if (requests[i].maxNewTokens <= 0) {
        row.active = false;
        if (options.detokenize)
          results[i].text = options.detokenize({});
      }
      rows.push_back(row);
    }
    KILN_RETURN_IF_ERROR(wave.run(std::move(rows)));
  }
  return results;
}

} // namespace kiln::models
